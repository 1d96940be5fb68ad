#!/usr/bin/env python3
"""Self-test of the Hugging Face Hub stand-in (hf_standin.py):
`python3 tests/support/hf_standin_test.py`.

Checks the stand-in against shared/reference/hf-gpu-gateway.md §1: model
info and tree shapes, the resolve HEAD headers and the CDN redirect, Range,
the X-Error-Code answers, 429 with Retry-After, and the request log.
"""

import hashlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import unittest

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf_standin.py")
BIG = bytes(range(256)) * 4096  # 1 MiB


class Standin:
    def __init__(self, tmp, *args):
        repos = os.path.join(tmp, "repos")
        for repo, path, data in [("org/M-GGUF", "m-Q4_K_M.gguf", BIG), ("org/M-GGUF", "README.md", b"hi\n"),
                                 ("org/Gated", "g.gguf", b"g" * 10), ("org/Private", "p.txt", b"p")]:
            p = os.path.join(repos, repo, path)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        with open(os.path.join(repos, "org/Gated/.standin.json"), "w") as f:
            json.dump({"gated": "manual", "authorized": ["ok"]}, f)
        with open(os.path.join(repos, "org/Private/.standin.json"), "w") as f:
            json.dump({"private": True, "authorized": ["ok"]}, f)
        self.proc = subprocess.Popen([sys.executable, STANDIN, "--repos", repos, "--token", "ok", "--token", "other",
                                      *args], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line[0] == "READY", line
        ports = dict(w.split("=") for w in line[1:])
        self.hub, self.cdn = int(ports["hub"]), int(ports["cdn"])

    def request(self, method, path, port=None, headers=None, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.hub, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class HubStandinTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.s = Standin(self.tmp.name)

    def tearDown(self):
        self.s.close()
        self.tmp.cleanup()

    def test_info_and_tree(self):
        st, _, body = self.s.request("GET", "/api/models/org/M-GGUF?blobs=true")
        self.assertEqual(st, 200)
        info = json.loads(body)
        self.assertEqual(len(info["sha"]), 40)
        sib = {x["rfilename"]: x for x in info["siblings"]}
        self.assertEqual(sib["m-Q4_K_M.gguf"]["lfs"]["sha256"], hashlib.sha256(BIG).hexdigest())
        self.assertNotIn("lfs", sib["README.md"])
        st, _, body = self.s.request("GET", f"/api/models/org/M-GGUF/tree/{info['sha']}?recursive=true")
        tree = {x["path"]: x for x in json.loads(body)}
        self.assertEqual(tree["m-Q4_K_M.gguf"]["lfs"]["oid"], hashlib.sha256(BIG).hexdigest())
        self.assertEqual(tree["m-Q4_K_M.gguf"]["size"], len(BIG))
        git = hashlib.sha1(b"blob 3\0hi\n").hexdigest()
        self.assertEqual(tree["README.md"]["oid"], git)

    def test_resolve_redirects_lfs_files_to_the_cdn_with_range(self):
        st, h, _ = self.s.request("HEAD", "/org/M-GGUF/resolve/main/m-Q4_K_M.gguf")
        self.assertEqual(st, 302)
        sha = hashlib.sha256(BIG).hexdigest()
        self.assertEqual(h["X-Linked-Etag"], f'"{sha}"')
        self.assertEqual(h["X-Linked-Size"], str(len(BIG)))
        self.assertEqual(len(h["X-Repo-Commit"]), 40)
        loc = h["Location"]
        self.assertIn(f"127.0.0.1:{self.s.cdn}/", loc)
        path = loc.split(str(self.s.cdn), 1)[1]
        st, h, body = self.s.request("GET", path, port=self.s.cdn, headers={"Range": "bytes=1000-"})
        self.assertEqual(st, 206)
        self.assertEqual(h["Content-Range"], f"bytes 1000-{len(BIG) - 1}/{len(BIG)}")
        self.assertEqual(body, BIG[1000:])
        st, h, body = self.s.request("GET", "/org/M-GGUF/resolve/main/README.md")
        self.assertEqual((st, body), (200, b"hi\n"))
        st, _, body = self.s.request("GET", "/__standin/log")
        log = json.loads(body)
        self.assertTrue(any(e["server"] == "cdn" and e["range"] == "bytes=1000-" for e in log))

    def test_error_codes(self):
        cases = [
            ("/org/Gated/resolve/main/g.gguf", {}, 401, "GatedRepo"),
            ("/org/Gated/resolve/main/g.gguf", {"Authorization": "Bearer other"}, 403, "GatedRepo"),
            ("/api/models/org/Nope", {}, 401, "RepoNotFound"),
            ("/api/models/org/Private", {}, 401, "RepoNotFound"),
            ("/api/models/org/M-GGUF/revision/v9", {}, 404, "RevisionNotFound"),
            ("/org/M-GGUF/resolve/main/nope.gguf", {}, 404, "EntryNotFound"),
        ]
        for path, headers, status, code in cases:
            st, h, _ = self.s.request("GET", path, headers=headers)
            self.assertEqual((st, h.get("X-Error-Code")), (status, code), path)
        st, h, _ = self.s.request("GET", "/org/Gated/resolve/main/g.gguf", headers={"Authorization": "Bearer other"})
        self.assertIn("Visit http://127.0.0.1:", h["X-Error-Message"])
        st, h, _ = self.s.request("GET", "/org/Gated/resolve/main/g.gguf", headers={"Authorization": "Bearer ok"})
        self.assertEqual(st, 302)
        st, h, _ = self.s.request("GET", "/api/models/org/M-GGUF", headers={"Authorization": "Bearer bad"})
        self.assertEqual((st, h["X-Error-Message"]), (401, "Invalid credentials in Authorization header"))

    def test_faults(self):
        st, _, _ = self.s.request("POST", "/__standin/faults", body=json.dumps({"rate_limit": 1, "retry_after": 3}),
                                  headers={"Content-Type": "application/json"})
        self.assertEqual(st, 200)
        st, h, _ = self.s.request("GET", "/api/models/org/M-GGUF")
        self.assertEqual((st, h["Retry-After"]), (429, "3"))
        st, _, _ = self.s.request("GET", "/api/models/org/M-GGUF")
        self.assertEqual(st, 200)
        self.s.request("POST", "/__standin/faults", body=json.dumps({"cut_after": 100, "corrupt": 1}))
        _, h, _ = self.s.request("HEAD", "/org/M-GGUF/resolve/main/m-Q4_K_M.gguf")
        path = h["Location"].split(str(self.s.cdn), 1)[1]
        conn = http.client.HTTPConnection("127.0.0.1", self.s.cdn, timeout=10)
        conn.request("GET", path)
        r = conn.getresponse()
        with self.assertRaises(http.client.IncompleteRead):
            r.read()
        conn.close()
        st, _, body = self.s.request("GET", path, port=self.s.cdn)
        self.assertEqual((st, body), (200, BIG))


if __name__ == "__main__":
    unittest.main()
