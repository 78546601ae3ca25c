#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""webhook-listener.py DIR [PORT]: an HTTP server on 127.0.0.1 (PORT, or a free one; written to
DIR/port either way) that
receives notify.webhook's POSTs the way Slack's incoming webhooks do. Each request's method, path,
Content-Type and body go to DIR/N.json ({"method", "path", "content_type", "body"}), N counting
from 1. The answer is the status in DIR/status (default 200), so a test can make it fail."""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        d = self.server.dir
        n = len([f for f in os.listdir(d) if f.endswith(".json")]) + 1
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("utf-8", "replace")
        record = {
            "method": self.command,
            "path": self.path,
            "content_type": self.headers.get("Content-Type", ""),
            "body": body,
        }
        tmp = os.path.join(d, f".{n}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(d, f"{n}.json"))
        try:
            with open(os.path.join(d, "status"), encoding="utf-8") as f:
                status = int(f.read().strip() or "200")
        except FileNotFoundError:
            status = 200
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok\n" if status < 300 else b"no\n")

    do_GET = do_POST

    def log_message(self, fmt, *args):
        sys.stderr.write("webhook-listener: " + (fmt % args) + "\n")


def main():
    d = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    server = HTTPServer(("127.0.0.1", port), Handler)
    server.dir = d
    tmp = os.path.join(d, ".port.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, os.path.join(d, "port"))
    server.serve_forever()


if __name__ == "__main__":
    main()
