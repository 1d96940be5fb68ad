#!/usr/bin/env python3
"""A release server for FaceRunner's tests (`facerunner setup`, `update`).

Serves the files under ROOT over HTTP on 127.0.0.1 (a free port, printed as
the first line of stdout), laid out like GitHub's release downloads:

  ROOT/releases/download/v<VERSION>/<asset>   the assets (sha256sum.txt, archives)
  GET /releases/latest                        302 -> /releases/tag/v<LATEST>
  GET /releases/tag/v<VERSION>                200, a small HTML page

LATEST is read from ROOT/LATEST at each request. Every request's path is
appended to LOG (one line each), so tests can assert what was downloaded.

Usage: release_server.py ROOT LOG. Python 3.11 stdlib only.
"""

import functools
import http.server
import os
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, root, log, **kwargs):
        self.root = root
        self.log = log
        super().__init__(*args, directory=root, **kwargs)

    def do_GET(self):
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(self.path + "\n")
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/latest"):
            with open(os.path.join(self.root, "LATEST"), encoding="utf-8") as f:
                latest = f.read().strip()
            self.send_response(302)
            self.send_header("Location", path[: -len("latest")] + "tag/v" + latest)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "/tag/" in path:
            body = b"<html><body>release</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def do_HEAD(self):
        with open(self.log, "a", encoding="utf-8") as f:
            f.write("HEAD " + self.path + "\n")
        super().do_HEAD()

    def log_message(self, *args):
        pass


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    root, log = argv[1], argv[2]
    handler = functools.partial(Handler, root=root, log=log)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
