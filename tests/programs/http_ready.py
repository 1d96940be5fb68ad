#!/usr/bin/env python3
"""HTTP server that answers 200 on every GET, but only after a delay.

usage: http_ready.py PORT DELAY_SECONDS [MARKER...]
Extra arguments are ignored (tests use them to find the process).
"""
import http.server
import sys
import time

port = int(sys.argv[1])
delay = float(sys.argv[2])
print(f"warming up for {delay}s", flush=True)
time.sleep(delay)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", port), Handler)
print(f"listening on {port}", flush=True)
server.serve_forever()
