#!/usr/bin/env python3
"""A stand-in for `open-webui serve --host H --port P` (backup tests).

Writes $DATA_DIR/webui.db once (a fixed text, so a backup of it can be
compared), answers 200 on GET /health, and exits on SIGTERM.
"""

import http.server
import os
import sys

args = sys.argv[1:]
if not args or args[0] != "serve":
    print("usage: fake_webui.py serve --host H --port P", file=sys.stderr)
    sys.exit(2)
host = args[args.index("--host") + 1]
port = int(args[args.index("--port") + 1])
data = os.environ["DATA_DIR"]
os.makedirs(data, exist_ok=True)
db = os.path.join(data, "webui.db")
if not os.path.exists(db):
    with open(db, "w", encoding="utf-8") as f:
        f.write("chats: 1\n")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status":true}')

    def log_message(self, *a):
        pass


http.server.HTTPServer((host, port), Handler).serve_forever()
