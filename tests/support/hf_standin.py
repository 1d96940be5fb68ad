#!/usr/bin/env python3
"""Hugging Face Hub stand-in for FaceRunner tests (stdlib only).

Written from shared/reference/hf-gpu-gateway.md §1 (the Hub HTTP API as the
downloaders use it). It serves repos from a directory tree:

    hf_standin.py --repos DIR [--log FILE] [--token TOKEN ...] [fault flags]

DIR/<org>/<name>/<files...> is one repo at one commit; the commit is the sha1
of the sorted (path, content sha256) list, so it is stable while the files do
not change. An optional DIR/<org>/<name>/.standin.json (not served) sets
`gated` ("auto"|"manual"), `private`, `authorized` (tokens that passed the
gate), `pipeline_tag`, `library_name`, `base_model`, `architectures`, `tags`.

Two listeners: the Hub (API + resolve) and a "CDN" that LFS files redirect to
(302 with a pre-signed-looking URL). The CDN records every request's
Authorization header so tests can check that the token never reaches it.

Endpoints (hub):
  GET  /api/models/{org}/{name}[/revision/{rev}]     model info (`blobs=true` sizes)
  GET  /api/models/{org}/{name}/tree/{rev}[/{path}]  tree; `recursive`; paginated by
                                                     --page-size with a Link rel="next"
  GET  /api/models?search=Q&filter=gguf&limit=N      search
  HEAD|GET /{org}/{name}/resolve/{rev}/{path}        X-Repo-Commit, ETag, X-Linked-Etag,
                                                     X-Linked-Size; LFS → 302 to the CDN
  POST /__standin/faults                             set faults (JSON, same keys as flags)
  GET  /__standin/log                                the request log as a JSON list
Errors carry X-Error-Code (GatedRepo, RepoNotFound, RevisionNotFound,
EntryNotFound) and X-Error-Message, with a JSON body {"error": ...}.

Faults (flags or POST /__standin/faults; `*_once` faults fire on the next CDN
GET only): `cut_after` (bytes; the CDN closes the connection after that many
bytes of the next GET), `corrupt` (the next N CDN GETs serve one flipped
byte per MiB; `--corrupt-once` is N=1), `slow_bps` (the CDN sends at most this many bytes a second),
`rate_limit` (the next N hub requests answer 429 with Retry-After:
`retry_after` seconds).

Valid tokens are given with --token; any other bearer token is refused with
401 "Invalid credentials in Authorization header".

Prints `READY hub=PORT cdn=PORT` on stdout when both listen. Request log
(--log, JSON lines, and GET /__standin/log): {"server","method","path","status",
"range","authorization","bytes"}.
"""

import argparse
import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".onnx")
LFS_MIN_SIZE = 10 << 20
CHUNK = 1 << 20


def is_lfs(path, size):
    return path.lower().endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE


class Repos:
    """The repos under a directory, with per-file hashes cached by (size, mtime)."""

    def __init__(self, root):
        self.root = root
        self.lock = threading.Lock()
        self.hashes = {}

    def _hash(self, full):
        st = os.stat(full)
        key = (full, st.st_size, st.st_mtime_ns)
        with self.lock:
            if key in self.hashes:
                return self.hashes[key]
        sha256 = hashlib.sha256()
        git = hashlib.sha1(b"blob %d\0" % st.st_size)
        with open(full, "rb") as f:
            while True:
                b = f.read(CHUNK)
                if not b:
                    break
                sha256.update(b)
                git.update(b)
        v = (sha256.hexdigest(), git.hexdigest(), st.st_size)
        with self.lock:
            self.hashes[key] = v
        return v

    def names(self):
        out = []
        if not os.path.isdir(self.root):
            return out
        for org in sorted(os.listdir(self.root)):
            od = os.path.join(self.root, org)
            if os.path.isdir(od):
                for name in sorted(os.listdir(od)):
                    if os.path.isdir(os.path.join(od, name)):
                        out.append(f"{org}/{name}")
        return out

    def get(self, repo):
        if repo.count("/") != 1 or ".." in repo or repo.startswith("."):
            return None
        d = os.path.join(self.root, repo)
        if not os.path.isdir(d):
            return None
        meta = {}
        mp = os.path.join(d, ".standin.json")
        if os.path.isfile(mp):
            with open(mp, encoding="utf-8") as f:
                meta = json.load(f)
        files = []
        for base, dirs, names in os.walk(d):
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
            for n in sorted(names):
                if n == ".standin.json":
                    continue
                full = os.path.join(base, n)
                rel = os.path.relpath(full, d).replace(os.sep, "/")
                sha256, git, size = self._hash(full)
                files.append({"path": rel, "full": full, "sha256": sha256, "git": git,
                              "size": size, "lfs": is_lfs(rel, size)})
        files.sort(key=lambda f: f["path"])
        commit = hashlib.sha1("".join(f"{f['path']}\0{f['sha256']}\n" for f in files).encode()).hexdigest()
        return {"id": repo, "dir": d, "meta": meta, "files": files, "commit": commit}


class State:
    def __init__(self, args):
        self.repos = Repos(args.repos)
        self.tokens = set(args.token or [])
        self.page_size = args.page_size
        self.lock = threading.Lock()
        self.faults = {"cut_after": args.cut_after, "corrupt": args.corrupt or (1 if args.corrupt_once else 0),
                       "slow_bps": args.slow_bps, "rate_limit": args.rate_limit,
                       "retry_after": args.retry_after}
        self.log = []
        self.log_file = args.log
        self.hub_port = 0
        self.cdn_port = 0

    def record(self, entry):
        with self.lock:
            self.log.append(entry)
            if self.log_file:
                with open(self.log_file, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")

    def take(self, key):
        """A one-shot fault's value, cleared."""
        with self.lock:
            v = self.faults.get(key)
            if key in ("rate_limit", "corrupt"):
                if v:
                    self.faults[key] = v - 1
                return v
            self.faults[key] = None
            return v


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hf-standin"
    state = None  # set per server class
    role = "hub"

    def log_message(self, fmt, *args):  # quiet
        pass

    # -- helpers --
    def token(self):
        auth = self.headers.get("Authorization", "")
        return auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else None

    def send(self, status, body=b"", headers=None, ctype="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.record(status, len(body) if self.command != "HEAD" else 0)

    def record(self, status, nbytes, rng=None):
        self.state.record({"server": self.role, "method": self.command, "path": self.path,
                           "status": status, "range": rng or self.headers.get("Range"),
                           "authorization": self.headers.get("Authorization"), "bytes": nbytes})

    def error(self, status, code, message, extra=None):
        h = {"X-Error-Message": message}
        if code:
            h["X-Error-Code"] = code
        h.update(extra or {})
        self.send(status, {"error": message}, h)

    def auth_check(self, repo_id, meta, file_access):
        """None when allowed, else sends the error and returns True."""
        tok = self.token()
        if tok is not None and tok not in self.state.tokens:
            self.error(401, None, "Invalid credentials in Authorization header")
            return True
        authorized = tok is not None and (not meta.get("authorized") or tok in meta.get("authorized", []))
        if meta.get("private") and not authorized:
            self.not_found_repo(tok)
            return True
        if file_access and meta.get("gated") and not authorized:
            url = f"http://127.0.0.1:{self.state.hub_port}/{repo_id}"
            if tok is None:
                self.error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it "
                           "and be authenticated to access it. Please log in.")
            else:
                self.error(403, "GatedRepo", f"Access to model {repo_id} is restricted and you are not in the "
                           f"authorized list. Visit {url} to ask for access.")
            return True
        return False

    def not_found_repo(self, tok):
        msg = "Repository not found"
        # Anonymous callers get 401 (private, gated and missing look the same).
        self.error(401 if tok is None else 404, "RepoNotFound", msg)

    def rate_limited(self):
        if self.role == "hub" and self.state.take("rate_limit"):
            ra = self.state.faults.get("retry_after")
            ra = 1 if ra is None else ra
            self.error(429, None, "You have exceeded our rate limit",
                       {"Retry-After": str(ra), "RateLimit": f'"api";r=0;t={ra}',
                        "RateLimit-Policy": '"fixed window";"api";q=500;w=300'})
            return True
        return False

    # -- dispatch --
    def do_HEAD(self):
        self.route()

    def do_GET(self):
        self.route()

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/__standin/faults":
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}")
            with self.state.lock:
                self.state.faults.update(body)
                faults = dict(self.state.faults)
            return self.send(200, faults)
        self.send(404, {"error": "not found"})

    def route(self):
        try:
            if self.role == "cdn":
                return self.cdn()
            u = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(u.query)
            parts = [urllib.parse.unquote(p) for p in u.path.split("/")[1:]]
            if u.path == "/__standin/log":
                # Copied under the lock, sent outside it: send() records
                # the request, which takes the lock again.
                with self.state.lock:
                    log = list(self.state.log)
                return self.send(200, log)
            if self.rate_limited():
                return
            if parts[:2] == ["api", "models"] and len(parts) == 2:
                return self.search(q)
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                return self.api_model(parts[2] + "/" + parts[3], parts[4:], q)
            if len(parts) >= 5 and parts[2] == "resolve":
                return self.resolve(parts[0] + "/" + parts[1], parts[3], "/".join(parts[4:]))
            self.send(404, {"error": "Sorry, we can't find the page you are looking for."})
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- hub --
    def repo_at(self, repo_id, rev, file_access):
        """(repo, files) or None after sending an error."""
        repo = self.state.repos.get(repo_id)
        if repo is None:
            tok = self.token()
            if tok is not None and tok not in self.state.tokens:
                self.error(401, None, "Invalid credentials in Authorization header")
            else:
                self.not_found_repo(tok)
            return None
        if self.auth_check(repo_id, repo["meta"], file_access):
            return None
        if rev not in ("main", repo["commit"]):
            self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return None
        return repo

    def info_json(self, repo, blobs):
        meta = repo["meta"]
        siblings = []
        for f in repo["files"]:
            s = {"rfilename": f["path"]}
            if blobs:
                s["size"] = f["size"]
                s["blobId"] = f["git"]
                if f["lfs"]:
                    s["lfs"] = {"sha256": f["sha256"], "size": f["size"], "pointerSize": 134}
            siblings.append(s)
        has_gguf = any(f["path"].endswith(".gguf") for f in repo["files"])
        tags = list(meta.get("tags", [])) + (["gguf"] if has_gguf else [])
        out = {"_id": repo["commit"][:24], "id": repo["id"], "modelId": repo["id"], "sha": repo["commit"],
               "private": bool(meta.get("private")), "gated": meta.get("gated") or False, "disabled": False,
               "downloads": 0, "likes": 0, "tags": tags, "siblings": siblings,
               "lastModified": "2026-01-01T00:00:00.000Z",
               "library_name": meta.get("library_name", "gguf" if has_gguf else None),
               "pipeline_tag": meta.get("pipeline_tag", "text-generation"),
               "cardData": {"base_model": meta.get("base_model")} if meta.get("base_model") else {},
               "config": {"architectures": meta["architectures"]} if meta.get("architectures") else {}}
        if has_gguf:
            out["gguf"] = {"total": sum(f["size"] for f in repo["files"] if f["path"].endswith(".gguf"))}
        return {k: v for k, v in out.items() if v is not None}

    def api_model(self, repo_id, rest, q):
        blobs = q.get("blobs", ["false"])[0] == "true"
        if not rest:
            repo = self.repo_at(repo_id, "main", False)
            return repo and self.send(200, self.info_json(repo, blobs))
        if rest[0] == "revision" and len(rest) >= 2:
            repo = self.repo_at(repo_id, "/".join(rest[1:]), False)
            return repo and self.send(200, self.info_json(repo, blobs))
        if rest[0] == "tree" and len(rest) >= 2:
            repo = self.repo_at(repo_id, rest[1], False)
            if not repo:
                return None
            prefix = "/".join(rest[2:])
            recursive = q.get("recursive", ["false"])[0] in ("true", "True", "1")
            entries = self.tree(repo, prefix, recursive)
            if entries is None:
                return self.error(404, "EntryNotFound", f"{prefix} does not exist on \"{rest[1]}\"")
            start = int(q.get("cursor", ["0"])[0] or 0)
            page = entries[start:start + self.state.page_size]
            headers = {}
            if start + self.state.page_size < len(entries):
                nq = dict((k, v[0]) for k, v in q.items())
                nq["cursor"] = str(start + self.state.page_size)
                nxt = f"http://127.0.0.1:{self.state.hub_port}{urllib.parse.urlsplit(self.path).path}?" \
                      + urllib.parse.urlencode(nq)
                headers["Link"] = f'<{nxt}>; rel="next"'
            return self.send(200, page, headers)
        self.send(404, {"error": "Sorry, we can't find the page you are looking for."})

    def tree(self, repo, prefix, recursive):
        prefix = prefix.strip("/")
        base = prefix + "/" if prefix else ""
        out, dirs = [], set()
        for f in repo["files"]:
            if not f["path"].startswith(base):
                continue
            rest = f["path"][len(base):]
            if "/" in rest:
                parts = rest.split("/")
                for i in range(1, len(parts) if recursive else 2):
                    dirs.add(base + "/".join(parts[:i]))
                if not recursive:
                    continue
            e = {"type": "file", "oid": f["git"], "size": f["size"], "path": f["path"]}
            if f["lfs"]:
                e["lfs"] = {"oid": f["sha256"], "size": f["size"], "pointerSize": 134}
            out.append(e)
        if prefix and not out and not dirs:
            return None
        for d in dirs:
            out.append({"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d})
        out.sort(key=lambda e: e["path"])
        return out

    def search(self, q):
        query = q.get("search", [""])[0].lower()
        want_gguf = "gguf" in q.get("filter", [])
        limit = int(q.get("limit", ["20"])[0] or 20)
        out = []
        for name in self.state.repos.names():
            if query and query not in name.lower():
                continue
            repo = self.state.repos.get(name)
            if repo is None or repo["meta"].get("private"):
                continue
            info = self.info_json(repo, False)
            if want_gguf and "gguf" not in info["tags"]:
                continue
            out.append({k: info[k] for k in ("_id", "id", "modelId", "likes", "downloads", "tags", "pipeline_tag",
                                             "library_name", "private", "lastModified") if k in info})
            if len(out) >= limit:
                break
        self.send(200, out)

    def resolve(self, repo_id, rev, path):
        repo = self.repo_at(repo_id, rev, True)
        if not repo:
            return None
        f = next((x for x in repo["files"] if x["path"] == path), None)
        common = {"X-Repo-Commit": repo["commit"]}
        if f is None:
            return self.error(404, "EntryNotFound", "Entry not found", common)
        if f["lfs"]:
            loc = f"http://127.0.0.1:{self.state.cdn_port}/repos/{repo_id}/{f['sha256']}?X-Amz-Signature=standin"
            h = dict(common, **{"ETag": f'"{f["sha256"]}"', "X-Linked-Etag": f'"{f["sha256"]}"',
                                "X-Linked-Size": str(f["size"]), "Location": loc})
            return self.send(302, f"Found. Redirecting to {loc}".encode(), h, "text/plain; charset=utf-8")
        with open(f["full"], "rb") as fh:
            body = fh.read()
        self.send(200, body, dict(common, ETag=f'"{f["git"]}"'), "application/octet-stream")

    # -- cdn --
    def cdn(self):
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.split("/")[1:]
        if len(parts) != 4 or parts[0] != "repos":
            return self.send(404, b"NoSuchKey", ctype="text/plain")
        repo = self.state.repos.get(parts[1] + "/" + parts[2])
        f = repo and next((x for x in repo["files"] if x["sha256"] == parts[3]), None)
        if f is None:
            return self.send(404, b"NoSuchKey", ctype="text/plain")
        size = f["size"]
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[len("bytes="):].partition("-")
            start = int(a) if a else 0
            end = min(int(b), size - 1) if b else size - 1
            if start >= size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return self.record(416, 0)
            status = 206
        n = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{f["sha256"]}"')
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return self.record(status, 0)
        cut = self.state.take("cut_after")
        corrupt = self.state.take("corrupt")
        slow = self.state.faults.get("slow_bps")
        sent = 0
        try:
            with open(f["full"], "rb") as fh:
                if not (cut or corrupt or slow):
                    sent = self.wfile_sendfile(fh, start, n)
                else:
                    fh.seek(start)
                    block = max(1, min(CHUNK, slow // 10)) if slow else CHUNK
                    while sent < n:
                        want = min(block, n - sent)
                        if cut is not None and sent + want > cut:
                            want = cut - sent
                        b = fh.read(want)
                        if not b:
                            break
                        if corrupt:
                            b = bytearray(b)
                            for i in range(0, len(b), CHUNK):
                                b[i] ^= 0xFF
                            b = bytes(b)
                        self.wfile.write(b)
                        sent += len(b)
                        if cut is not None and sent >= cut:
                            break
                        if slow:
                            time.sleep(len(b) / slow)
                            slow = self.state.faults.get("slow_bps")
                            block = max(1, min(CHUNK, slow // 10)) if slow else CHUNK
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self.record(status, sent, rng)
            if sent < n:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def wfile_sendfile(self, fh, start, n):
        self.wfile.flush()
        return self.connection.sendfile(fh, start, n)


def serve(state, role):
    cls = type(f"{role}Handler", (Handler,), {"state": state, "role": role})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), cls)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repos", required=True)
    p.add_argument("--log")
    p.add_argument("--token", action="append", help="a valid token (repeatable)")
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--cut-after", type=int)
    p.add_argument("--corrupt-once", action="store_true")
    p.add_argument("--corrupt", type=int, default=0, help="corrupt the next N CDN GETs")
    p.add_argument("--slow-bps", type=int)
    p.add_argument("--rate-limit", type=int, default=0)
    p.add_argument("--retry-after", type=int, default=1)
    args = p.parse_args()
    state = State(args)
    state.cdn_port = serve(state, "cdn")
    state.hub_port = serve(state, "hub")
    print(f"READY hub={state.hub_port} cdn={state.cdn_port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
