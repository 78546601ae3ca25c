#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# A port squatter, as any local user can run one: binds 127.0.0.1:PORT as soon as it is free
# (retrying every 10 ms for up to WAIT seconds) and answers like a healthy Metabase of version
# TAG: /api/health 200 {"status":"ok"}, /api/session/properties {"version":{"tag":TAG}}.
# Prints "bound", then "connected" for each connection and "answered PATH" for each request it
# answered (a client that checks whose listener it reached closes before asking).
#   squatter.py PORT TAG WAIT
import http.server
import socket
import sys
import time

port, tag, wait = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])


class Handler(http.server.BaseHTTPRequestHandler):
    def handle(self):
        print("connected", flush=True)
        super().handle()

    def do_GET(self):
        if self.path.startswith("/api/session/properties"):
            body = '{"version":{"tag":"%s"}}' % tag
        else:
            body = '{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())
        print("answered", self.path, flush=True)

    def log_message(self, *args):
        pass


class Server(http.server.HTTPServer):
    allow_reuse_address = False

    def server_bind(self):
        deadline = time.monotonic() + wait
        # as Metabase's Jetty does: past the TIME_WAIT connections the old server leaves on the
        # port (never past a listener)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        while True:
            try:
                self.socket.bind(self.server_address)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.server_name, self.server_port = "127.0.0.1", port


srv = Server(("127.0.0.1", port), Handler)
print("bound", port, flush=True)
srv.serve_forever()
