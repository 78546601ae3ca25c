#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# What users see through nginx, and which Metabase answered: GET PATH over https (a new TLS
# connection each time, as a new visitor's; or over http, CA_FILE "-": a Metabase's own port)
# every INTERVAL_MS on a fixed schedule, one line a probe:
#   SEND_MS STATUS VERSION
# SEND_MS is since the epoch; STATUS the HTTP status, or -1 no connection/answer within 1 s;
# VERSION the version.tag of /api/session/properties, or "-". Runs until SIGTERM, or until the
# file STOP exists (a prober in a fleet node's namespaces, which a signal does not reach).
#   version-prober.py URL CA_FILE INTERVAL_MS [STOP]
import http.client
import json
import os
import signal
import ssl
import sys
import time
import urllib.parse

url, ca, interval = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2], float(sys.argv[3]) / 1000
stop_file = sys.argv[4] if len(sys.argv) > 4 else None
ctx = ssl.create_default_context(cafile=ca) if ca != "-" else None
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
path = url.path or "/api/session/properties"
next_t = time.monotonic()
while not stop and not (stop_file and os.path.exists(stop_file)):
    sent = time.time()
    status, version = -1, "-"
    try:
        if ctx:
            c = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=1)
        else:
            c = http.client.HTTPConnection(url.hostname, url.port, timeout=1)
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        status, body = r.status, r.read()
        c.close()
        try:
            version = json.loads(body)["version"]["tag"]
        except (ValueError, KeyError, TypeError):
            pass
    except (OSError, http.client.HTTPException):
        pass
    print("%d %d %s" % (int(sent * 1000), status, version), flush=True)
    next_t += interval
    delay = next_t - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    else:
        next_t = time.monotonic()  # behind: go on at once, never a burst to catch up
