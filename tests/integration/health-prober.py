#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Whether this node's Metabase serves: GET /api/session/properties on 127.0.0.1:$MB_PORT (a new
# connection each time) every INTERVAL_MS on a fixed schedule, one line a probe:
#   SEND_MS STATUS VERSION
# SEND_MS is since the epoch; STATUS the HTTP status (200: serving), or -1 no connection/answer
# within 1 s; VERSION the answer's version.tag, or "-". Runs until the file STOP exists.
#   health-prober.py INTERVAL_MS STOP
import http.client
import json
import os
import sys
import time

interval, stop = float(sys.argv[1]) / 1000, sys.argv[2]
port = int(os.environ.get("MB_PORT", "3000"))
next_t = time.monotonic()
while not os.path.exists(stop):
    sent = time.time()
    status, version = -1, "-"
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/api/session/properties", headers={"Connection": "close"})
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
