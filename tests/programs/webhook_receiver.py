#!/usr/bin/env python3
"""A webhook receiver for tests: logs each POST as one JSON line.

usage: webhook_receiver.py PORT LOGFILE SECRET FAIL_FIRST [MARKER...]
Answers 500 to the first FAIL_FIRST requests (to exercise retries), 204
after. Each line: {"event", "signature_ok", "status", "body"}; the signature
is checked here with Python's hmac module, independently of FaceRunner.
"""
import hashlib
import hmac
import http.server
import json
import sys

port, log, secret, fail_first = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
seen = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        status = 500 if seen < fail_first else 204
        seen += 1
        with open(log, "a") as f:
            f.write(json.dumps({
                "event": self.headers.get("x-facerunner-event"),
                "signature_ok": hmac.compare_digest(want, self.headers.get("x-facerunner-signature-256", "")),
                "status": status,
                "body": json.loads(body or b"null"),
            }) + "\n")
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


print(f"listening on {port}", flush=True)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
