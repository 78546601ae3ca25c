#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# https-prober: what users see through nginx over TLS, and which Metabase answered; bench/http-prober.c's
# schedule and output with TLS and the version added (bench/zero-downtime.sh).
#
#   https-prober.py HOST PORT PATH CA_FILE INTERVAL_MS TIMEOUT_MS
#
# Sends "GET PATH" over a new TLS connection (as a new visitor's; the certificate checked against
# CA_FILE) every INTERVAL_MS on a fixed schedule (absolute deadlines on CLOCK_MONOTONIC: a slow
# probe never delays the next one, probes overlap if they must) and prints one line per probe as
# its result arrives:
#
#   SEQ SEND_MS RESULT_MS STATUS VERSION
#
# SEND_MS and RESULT_MS are milliseconds since the prober started; STATUS is the HTTP status, or
# -1 connection refused / failed (TLS included), -2 no answer within TIMEOUT_MS, -3 the connection
# closed or broke before a status line (the columns and codes of http-prober.c, so that
# bench-lib.sh's analyze_probes reads it); VERSION the version.tag of a JSON body
# (/api/session/properties), else "-". The first line is a comment with the CLOCK_REALTIME and
# CLOCK_MONOTONIC of time 0, in microseconds. Runs until SIGTERM or SIGINT; probes still in
# flight then are dropped.
import asyncio
import json
import signal
import ssl
import sys
import time

host, port, path, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
interval, timeout = float(sys.argv[5]) / 1000, float(sys.argv[6]) / 1000
ctx = ssl.create_default_context(cafile=ca)
request = (
    "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: mbupgraded-bench-prober\r\nConnection: close\r\n\r\n" % (path, host, port)
).encode()
t0 = time.monotonic()


def ms(t):
    return (t - t0) * 1000


async def exchange():
    """The status and the version of one request; raises on a failed connection."""
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    try:
        writer.write(request)
        await writer.drain()
        try:
            data = await reader.read()
        except (ssl.SSLError, ConnectionError):
            data = b""  # nginx may close without close_notify; what arrived counts
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0].split()
    if len(line) < 2 or not line[0].startswith(b"HTTP/") or not line[1].isdigit():
        return -3, "-"
    version = "-"
    if b"chunked" in head.lower():
        return int(line[1]), version  # the stand-in and nginx here send Content-Length
    try:
        version = json.loads(body)["version"]["tag"]
    except (ValueError, KeyError, TypeError):
        pass
    return int(line[1]), version


async def probe(seq, sent):
    try:
        status, version = await asyncio.wait_for(exchange(), timeout)
    except asyncio.TimeoutError:
        status, version = -2, "-"
    except (OSError, ssl.SSLError, EOFError):
        status, version = -1, "-"
    print("%d %.3f %.3f %d %s" % (seq, ms(sent), ms(time.monotonic()), status, version), flush=True)


async def main():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    print(
        "# t0_realtime_us %d t0_monotonic_us %d interval_ms %s timeout_ms %s"
        % (time.time() * 1e6, t0 * 1e6, sys.argv[5], sys.argv[6]),
        flush=True,
    )
    tasks, seq, nxt = set(), 0, t0
    while not stop.is_set():
        now = time.monotonic()
        while now >= nxt:
            t = asyncio.ensure_future(probe(seq, now))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            seq += 1
            nxt += interval
        try:
            await asyncio.wait_for(stop.wait(), nxt - time.monotonic())
        except asyncio.TimeoutError:
            pass


asyncio.run(main())
