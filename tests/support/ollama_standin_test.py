#!/usr/bin/env python3
"""Self-test of the Ollama stand-in (ollama_standin.py): `python3 tests/support/ollama_standin_test.py`.

Starts the stand-in as a subprocess on a random port (OLLAMA_HOST=127.0.0.1:0,
port read from the `Listening on` log line) with a temporary OLLAMA_MODELS, and
checks it against shared/reference/ollama-api.md. Conditions are awaited by
polling with deadlines; no fixed sleeps decide a result.
"""

import hashlib
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ollama_standin.py")


def wait_for(cond, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Standin:
    """A running stand-in process; stdout/stderr lines are collected by reader threads."""

    def __init__(self, tmp, **env):
        self.models = os.path.join(tmp, "models")
        self.request_log = os.path.join(tmp, "requests.jsonl")
        e = dict(os.environ, OLLAMA_HOST="127.0.0.1:0", OLLAMA_MODELS=self.models,
                 STANDIN_REQUEST_LOG=self.request_log, HOME=tmp)
        e.update({k: str(v) for k, v in env.items()})
        self.proc = subprocess.Popen([sys.executable, STANDIN, "serve"], env=e, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, encoding="utf-8")
        self.out, self.err = [], []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: [k.append(l) for l in s], daemon=True).start()
        line = wait_for(lambda: next((l for l in self.err if "Listening on" in l), None), what="Listening on")
        self.port = int(re.search(r"Listening on 127\.0\.0\.1:(\d+) \(version 0\.33\.0-rc2\)", line).group(1))

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        try:
            conn.request(method, path, body=data, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read(), resp
        finally:
            conn.close()

    def json(self, method, path, body=None):
        status, raw, _ = self.request(method, path, body)
        return status, (json.loads(raw) if raw else None)

    def lines(self, path, body):
        status, raw, resp = self.request("POST", path, body)
        assert resp.getheader("Content-Type", "").startswith("application/x-ndjson"), resp.getheader("Content-Type")
        return status, [json.loads(l) for l in raw.decode().splitlines()]

    def faults(self, **kv):
        return self.json("POST", "/__standin/faults", kv)[1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


class StandinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.s = Standin(cls.tmpdir.name)
        wait_for(lambda: cls.s.request("GET", "/")[0] == 200, what="readiness")

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()
        cls.tmpdir.cleanup()
        bad = [l for l in cls.s.err if "Traceback" in l or "level=ERROR" in l]
        assert not bad, "stand-in logged errors:\n" + "".join(cls.s.err)

    def setUp(self):
        self.s.faults(reset=True)

    def blob(self, digest):
        return os.path.join(self.s.models, "blobs", digest.replace(":", "-"))

    def manifest(self, *parts):
        return os.path.join(self.s.models, "manifests", *parts)

    def pull(self, name, **extra):
        status, lines = self.s.lines("/api/pull", dict(model=name, **extra))
        self.assertEqual(status, 200)
        return lines

    def test_readiness_and_info(self):
        status, raw, _ = self.s.request("GET", "/")
        self.assertEqual((status, raw), (200, b"Ollama is running"))
        self.assertEqual(self.s.request("HEAD", "/")[0], 200)
        self.assertEqual(self.s.json("GET", "/api/version"), (200, {"version": "0.33.0-rc2"}))
        self.assertEqual(self.s.request("GET", "/api/nope")[:2], (404, b"404 page not found"))
        self.assertEqual(self.s.request("GET", "/api/pull")[:2], (405, b"405 method not allowed"))
        self.assertEqual(self.s.json("POST", "/api/pull", b""), (400, {"error": "missing request body"}))
        self.assertEqual(self.s.json("POST", "/api/show", b"{oops")[0], 400)
        wait_for(lambda: any('GET      "/api/version"' in l or 'GET     "/api/version"' in l for l in self.s.out),
                 what="gin access line")

    def test_pull_stream_layout_and_tags(self):
        lines = self.pull("llama3.2:1b")
        statuses = [l.get("status") for l in lines]
        self.assertEqual(statuses[0], "pulling manifest")
        self.assertEqual(statuses[-3:], ["verifying sha256 digest", "writing manifest", "success"])
        layer_lines = [l for l in lines if l.get("status", "").startswith("pulling ") and "digest" in l]
        self.assertTrue(layer_lines)
        for l in layer_lines:
            self.assertEqual(l["status"], "pulling " + l["digest"][7:19])
            self.assertNotEqual(l.get("completed"), 0, "zero fields are omitted")
        digests = list(dict.fromkeys(l["digest"] for l in layer_lines))
        first = layer_lines[0]
        self.assertEqual(first["total"], 262144)
        for d in digests:
            done = [l for l in layer_lines if l["digest"] == d and l.get("completed") == l["total"]]
            self.assertTrue(done, d)
            self.assertTrue(os.path.isfile(self.blob(d)))
            self.assertEqual(oct(os.stat(self.blob(d)).st_mode & 0o777), "0o644")
        mpath = self.manifest("registry.ollama.ai", "library", "llama3.2", "1b")
        with open(mpath, "rb") as f:
            raw = f.read()
        m = json.loads(raw)
        self.assertEqual(m["schemaVersion"], 2)
        self.assertEqual(m["mediaType"], "application/vnd.docker.distribution.manifest.v2+json")
        self.assertEqual(m["layers"][0]["mediaType"], "application/vnd.ollama.image.model")
        self.assertEqual([l["digest"] for l in m["layers"]] + [m["config"]["digest"]], digests)
        with open(self.blob(m["config"]["digest"])) as f:
            cfg = json.load(f)
        self.assertEqual((cfg["model_format"], cfg["model_family"], cfg["file_type"]), ("gguf", "llama", "Q4_K_M"))
        self.assertFalse([d for d in digests if os.path.exists(self.blob(d) + "-partial")])

        status, tags = self.s.json("GET", "/api/tags")
        self.assertEqual(status, 200)
        entry = next(t for t in tags["models"] if t["name"] == "llama3.2:1b")
        self.assertEqual(entry["model"], "llama3.2:1b")
        self.assertEqual(entry["digest"], hashlib.sha256(raw).hexdigest())
        self.assertEqual(entry["size"], sum(l["size"] for l in m["layers"]) + m["config"]["size"])
        self.assertEqual(entry["details"]["quantization_level"], "Q4_K_M")
        self.assertRegex(entry["modified_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

        # Deterministic: a re-pull finds every blob present (one line per layer, completed == total).
        again = [l for l in self.pull("Llama3.2:1B") if "digest" in l]
        self.assertEqual([l["digest"] for l in again], digests)
        self.assertTrue(all(l["completed"] == l["total"] for l in again))
        self.assertFalse(os.path.exists(self.manifest("registry.ollama.ai", "library", "Llama3.2", "1B")))
        # stream:false answers with the last object.
        self.assertEqual(self.s.json("POST", "/api/pull", {"model": "llama3.2:1b", "stream": False}),
                         (200, {"status": "success"}))

    def test_hf_names(self):
        name = "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"
        self.assertEqual(self.pull(name)[-1], {"status": "success"})
        self.assertTrue(os.path.isfile(self.manifest("hf.co", "bartowski", "Llama-3.2-1B-Instruct-GGUF", "Q4_K_M")))
        self.assertIn(name, [t["name"] for t in self.s.json("GET", "/api/tags")[1]["models"]])
        self.assertEqual(self.s.json("POST", "/api/show", {"model": name.lower()})[0], 200)  # case-insensitive

    def test_show_not_found_and_invalid_names(self):
        self.assertEqual(self.s.json("POST", "/api/show", {"model": "llama3.2"}),
                         (404, {"error": "model 'llama3.2:latest' not found"}))
        self.assertEqual(self.s.json("POST", "/api/show", {"model": ""}), (400, {"error": "model is required"}))
        for bad in ("bad name", "m:", "a/b/c/d", "ns.dot/m", "x" * 81, "héllo"):
            self.assertEqual(self.s.json("POST", "/api/pull", {"model": bad}), (400, {"error": "invalid model name"}), bad)
        self.assertEqual(self.s.json("DELETE", "/api/delete", {"model": "m:"}), (400, {"error": 'name "m:" is invalid'}))

    def test_copy_and_delete_gc(self):
        self.pull("copysrc:7b")
        with open(self.manifest("registry.ollama.ai", "library", "copysrc", "7b"), "rb") as f:
            raw = f.read()
        m = json.loads(raw)
        model_blob = self.blob(m["layers"][0]["digest"])
        status, raw_body, _ = self.s.request("POST", "/api/copy", json.dumps({"source": "copysrc:7b", "destination": "me/copy"}))
        self.assertEqual((status, raw_body), (200, b""))
        with open(self.manifest("registry.ollama.ai", "me", "copy", "latest"), "rb") as f:
            self.assertEqual(f.read(), raw)
        names = [t["name"] for t in self.s.json("GET", "/api/tags")[1]["models"]]
        self.assertIn("me/copy:latest", names)
        self.assertEqual(self.s.json("POST", "/api/copy", {"source": "nosuch", "destination": "x"}),
                         (404, {"error": 'model "nosuch" not found'}))
        self.assertEqual(self.s.request("DELETE", "/api/delete", json.dumps({"model": "copysrc:7b"}))[:2], (200, b""))
        self.assertTrue(os.path.isfile(model_blob), "blob still referenced by the copy")
        self.assertEqual(self.s.request("DELETE", "/api/delete", json.dumps({"model": "ME/Copy"}))[:2], (200, b""))
        self.assertFalse(os.path.exists(model_blob), "unreferenced blob removed")
        self.assertFalse(os.path.exists(os.path.join(self.s.models, "manifests", "registry.ollama.ai", "me")))
        self.assertEqual(self.s.json("DELETE", "/api/delete", {"model": "copysrc:7b"}),
                         (404, {"error": "model 'copysrc:7b' not found"}))

    def test_create_from_and_files(self):
        status, lines = self.s.lines("/api/create", {"model": "mybot", "from": "basebot:3b", "system": "Be brief.",
                                                     "parameters": {"temperature": 0.2, "num_ctx": 8192}})
        self.assertEqual(status, 200)
        statuses = [l["status"] for l in lines]
        self.assertEqual(statuses[0], "pulling manifest")  # `from` was not installed: pulled first
        self.assertIn("writing manifest", statuses)
        self.assertEqual(statuses[-1], "success")
        self.assertTrue(any(s.startswith("using existing layer sha256:") for s in statuses))
        self.assertTrue(any(s.startswith("creating new layer sha256:") for s in statuses))
        status, show = self.s.json("POST", "/api/show", {"model": "mybot"})
        self.assertEqual((status, show["system"]), (200, "Be brief."))
        self.assertIn("temperature", show["parameters"])
        self.assertIn("stop", show["parameters"])  # merged with the base parameters

        data = b"GGUF\x03\x00\x00\x00" + os.urandom(1000)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.assertEqual(self.s.request("HEAD", f"/api/blobs/{digest}")[0], 404)
        self.assertEqual(self.s.request("POST", f"/api/blobs/{digest}", data)[0], 201)
        self.assertEqual(self.s.request("POST", f"/api/blobs/{digest}", data)[0], 200)
        self.assertEqual(self.s.request("HEAD", f"/api/blobs/{digest}")[0], 200)
        self.assertEqual(self.s.json("POST", "/api/blobs/sha256:abc", b"x"), (400, {"error": "invalid digest format"}))
        wrong = "sha256:" + "0" * 64
        status, err = self.s.json("POST", f"/api/blobs/{wrong}", b"hello")
        self.assertEqual(status, 400)
        self.assertTrue(err["error"].startswith("digest mismatch, expected"), err)
        status, lines = self.s.lines("/api/create", {"model": "local/m:q8", "files": {"m-Q8_0.gguf": digest}})
        self.assertEqual([l["status"] for l in lines][-2:], ["writing manifest", "success"])
        self.assertIn("parsing GGUF", [l["status"] for l in lines])
        tag = next(t for t in self.s.json("GET", "/api/tags")[1]["models"] if t["name"] == "local/m:q8")
        self.assertEqual(tag["details"]["quantization_level"], "Q8_0")
        self.assertEqual(self.s.json("POST", "/api/create", {"model": "x"}),
                         (400, {"error": "neither 'from' or 'files' was specified"}))

    def test_show_model_info(self):
        # A pulled (generated) model: keys derived from its parameter size (unlisted: 1B) and
        # family, long arrays emptied.
        self.pull("shape:8b")
        status, show = self.s.json("POST", "/api/show", {"model": "shape:8b"})
        self.assertEqual(status, 200)
        info = show["model_info"]
        self.assertEqual(info["general.architecture"], "llama")
        self.assertEqual(info["general.file_type"], 15)
        self.assertEqual((info["llama.block_count"], info["llama.attention.head_count_kv"]), (16, 8))
        self.assertEqual(info["llama.context_length"], 131072)
        self.assertEqual(info["tokenizer.ggml.tokens"], [])
        verbose = self.s.json("POST", "/api/show", {"model": "shape:8b", "verbose": True})[1]["model_info"]
        self.assertEqual(len(verbose["tokenizer.ggml.tokens"]), 8)
        self.pull("nomic-embed-text")
        info = self.s.json("POST", "/api/show", {"model": "nomic-embed-text"})[1]["model_info"]
        self.assertEqual((info["general.architecture"], info["bert.pooling_type"]), ("bert", 1))

        # A model created from a real GGUF: its header's keys, as written.
        def s(x):
            return struct.pack("<Q", len(x)) + x.encode()
        kv = [("general.architecture", 8, s("qwen2")), ("qwen2.block_count", 4, struct.pack("<I", 80)),
              ("qwen2.attention.head_count_kv", 4, struct.pack("<I", 8)),
              ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 6) + b"".join(s(f"t{i}") for i in range(6)))]
        data = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv))
        data += b"".join(s(k) + struct.pack("<I", t) + v for k, t, v in kv) + b"\0" * 64
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.assertEqual(self.s.request("POST", f"/api/blobs/{digest}", data)[0], 201)
        status, lines = self.s.lines("/api/create", {"model": "real:80l", "files": {"real.gguf": digest}})
        self.assertEqual(lines[-1], {"status": "success"})
        info = self.s.json("POST", "/api/show", {"model": "real:80l"})[1]["model_info"]
        self.assertEqual(info, {"general.architecture": "qwen2", "qwen2.block_count": 80,
                                "qwen2.attention.head_count_kv": 8, "tokenizer.ggml.tokens": []})

    def test_pull_fails_in_stream(self):
        self.s.faults(fail_pull=["failme:1b"])
        lines = self.pull("registry.ollama.ai/library/failme:1b")
        self.assertEqual(lines[0], {"status": "pulling manifest"})
        self.assertIn("error", lines[-1])
        self.assertIn("simulated", lines[-1]["error"])
        self.assertTrue([f for f in os.listdir(os.path.join(self.s.models, "blobs")) if f.endswith("-partial")])
        self.assertEqual(self.pull("nonexistent-model")[-1], {"error": "pull model manifest: file does not exist"})
        self.assertEqual(self.s.json("POST", "/api/pull", {"model": "missing", "stream": False}),
                         (500, {"error": "pull model manifest: file does not exist"}))

    def test_dropped_pull_then_resume(self):
        self.s.faults(drop_pull="dropme")
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            self.s.request("POST", "/api/pull", json.dumps({"model": "dropme"}))
        partials = [f for f in os.listdir(os.path.join(self.s.models, "blobs")) if f.endswith("-partial")]
        digest = "sha256:" + next(p[7:71] for p in partials)
        size = os.path.getsize(self.blob(digest) + "-partial")
        self.assertGreater(size, 0)
        self.s.faults(reset=True)
        lines = self.pull("dropme:latest")
        first = next(l for l in lines if l.get("digest") == digest)
        self.assertEqual(first["completed"], size)
        self.assertEqual(lines[-1], {"status": "success"})
        self.assertTrue(os.path.isfile(self.blob(digest)))
        self.assertFalse(os.path.exists(self.blob(digest) + "-partial"))

    def test_concurrent_pulls_share_download(self):
        self.s.faults(pull_rate=1_000_000)
        results = []
        threads = [threading.Thread(target=lambda: results.append(self.pull("shared:1b"))) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual([r[-1] for r in results], [{"status": "success"}] * 2)

    def test_fail_paths_and_slow(self):
        self.s.faults(fail_paths=["/api/tags"])
        self.assertEqual(self.s.json("GET", "/api/tags"), (500, {"error": "simulated internal error"}))
        self.assertEqual(self.s.json("GET", "/__standin/faults")[1], {"fail_paths": ["/api/tags"]})
        self.assertEqual(self.s.json("POST", "/__standin/faults", {"nope": 1})[0], 400)
        self.s.faults(reset=True, slow=0.3)
        t0 = time.monotonic()
        self.assertEqual(self.s.json("GET", "/api/tags")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)

    def test_stream_delay_and_stream_events(self):
        self.pull("sd:1b")
        self.s.faults(reset=True, stream_delay=0.5)
        def events():
            with open(self.s.request_log) as f:
                return [json.loads(l) for l in f if '"event"' in l]
        before = len(events())
        # A client that reads one line and hangs up: the stand-in sees it gone.
        c = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=10)
        c.request("POST", "/api/chat", json.dumps({"model": "sd:1b", "messages": [{"role": "user", "content": "hi"}]}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        first = json.loads(r.readline() or b"{}")
        self.assertFalse(first.get("done", True))
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        gone = wait_for(lambda: [e for e in events()[before:] if e["event"] == "client_gone"], what="client_gone")
        self.assertEqual(gone[0]["route"], "/api/chat")
        self.s.faults(reset=True)
        self.assertEqual(self.s.json("POST", "/api/generate", {"model": "sd:1b", "prompt": "x", "stream": False})[0], 200)
        c = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=10)
        c.request("POST", "/api/chat", json.dumps({"model": "sd:1b", "messages": [{"role": "user", "content": "hi"}]}))
        c.getresponse().read()
        c.close()
        wait_for(lambda: [e for e in events()[before:] if e["event"] == "stream_done"], what="stream_done")

    def test_request_log(self):
        self.s.json("GET", "/api/ps")
        def logged():
            with open(self.s.request_log) as f:
                return [json.loads(l) for l in f if '"/api/ps"' in l]
        entry = wait_for(logged, what="request log line")[-1]
        self.assertEqual((entry["method"], entry["status"]), ("GET", 200))
        self.assertIsInstance(entry["ts"], float)

    def test_host_guard(self):
        self.assertEqual(self.s.request("GET", "/api/version", headers={"Host": "evil.example.com"})[:2], (403, b""))
        for ok in ("localhost:11434", "foo.localhost", "10.1.2.3:80", "[::1]:11434"):
            self.assertEqual(self.s.request("GET", "/api/version", headers={"Host": ok})[0], 200, ok)

    def test_load_unload(self):
        self.pull("loadme:1b")
        self.assertEqual(self.s.json("POST", "/api/generate", {"model": "nosuch"}),
                         (404, {"error": "model 'nosuch' not found"}))
        status, r = self.s.json("POST", "/api/generate", {"model": "loadme:1b", "keep_alive": -1})
        self.assertEqual((status, r["done"], r["done_reason"], r["response"]), (200, True, "load", ""))
        ps = self.s.json("GET", "/api/ps")[1]["models"]
        entry = next(m for m in ps if m["name"] == "loadme:1b")
        self.assertTrue(entry["expires_at"].startswith("23"), entry["expires_at"])  # ~292 years ahead
        self.assertEqual(entry["size"], entry["size_vram"])
        status, r = self.s.json("POST", "/api/chat", {"model": "loadme:1b", "messages": [], "keep_alive": "10m"})
        self.assertEqual((status, r["done_reason"], r["message"]), (200, "load", {"role": "assistant", "content": ""}))
        status, r = self.s.json("POST", "/api/generate", {"model": "loadme:1b", "prompt": "hi", "stream": False})
        self.assertEqual((status, r["response"], r["done_reason"]), (200, "Hello from the Ollama stand-in.", "stop"))
        status, lines = self.s.lines("/api/chat", {"model": "loadme:1b", "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual("".join(l["message"]["content"] for l in lines), "Hello from the Ollama stand-in.")
        self.assertTrue(lines[-1]["done"])
        status, r = self.s.json("POST", "/api/generate", {"model": "loadme:1b", "keep_alive": 0})
        self.assertEqual((status, r["done_reason"]), (200, "unload"))
        self.assertNotIn("loadme:1b", [m["name"] for m in self.s.json("GET", "/api/ps")[1]["models"]])
        self.assertEqual(self.s.json("POST", "/api/generate", {"model": "loadme:1b", "keep_alive": "5x"})[0], 400)
        self.pull("nomic-embed-text")
        status, r = self.s.json("POST", "/api/embed", {"model": "nomic-embed-text"})
        self.assertEqual((status, r), (200, {"model": "nomic-embed-text", "embeddings": []}))
        status, r = self.s.json("POST", "/api/embed", {"model": "nomic-embed-text", "input": ["a", "b"]})
        self.assertEqual([len(v) for v in r["embeddings"]], [8, 8])
        self.assertEqual(self.s.json("POST", "/api/generate", {"model": "nomic-embed-text", "prompt": "x"}),
                         (400, {"error": '"nomic-embed-text" does not support generate'}))


class LifecycleTest(unittest.TestCase):
    def test_registry_file_and_repull(self):
        with tempfile.TemporaryDirectory() as tmp:
            reg = os.path.join(tmp, "registry.json")
            with open(reg, "w") as f:
                json.dump({"models": {"llama3.2:1b": {"size": 5000, "family": "llama", "parameter_size": "1.2B",
                                                      "quantization_level": "Q8_0"}}}, f)
            s = Standin(tmp, STANDIN_REGISTRY=reg, STANDIN_DEFAULT_SIZE=1234)
            try:
                first = [l for l in s.lines("/api/pull", {"model": "llama3.2:1b"})[1] if "digest" in l]
                self.assertEqual(first[0]["total"], 5000)
                self.assertEqual([l for l in s.lines("/api/pull", {"model": "other"})[1] if "digest" in l][0]["total"], 1234)
                tag = next(t for t in s.json("GET", "/api/tags")[1]["models"] if t["name"] == "llama3.2:1b")
                self.assertEqual((tag["details"]["parameter_size"], tag["details"]["quantization_level"]), ("1.2B", "Q8_0"))
                with open(reg, "w") as f:  # the registry is re-read: a new digest_seed means new model bytes
                    json.dump({"models": {"llama3.2:1b": {"size": 5000, "digest_seed": "v2"}}}, f)
                statuses = [l["status"] for l in s.lines("/api/pull", {"model": "llama3.2:1b"})[1]]
                self.assertEqual(statuses[-2:], ["removing unused layers", "success"])
                self.assertFalse(os.path.exists(os.path.join(tmp, "models", "blobs", first[0]["digest"].replace(":", "-"))))
            finally:
                s.stop()

    def test_startup_delay_then_sigterm(self):
        with tempfile.TemporaryDirectory() as tmp:
            s = Standin(tmp, STANDIN_STARTUP_DELAY=1.0)
            try:
                t0 = time.monotonic()
                sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)  # port is bound already
                sock.close()
                status, raw, _ = s.request("GET", "/")
                self.assertEqual((status, raw), (200, b"Ollama is running"))
                self.assertGreaterEqual(time.monotonic() - t0, 0.5, "answered before the startup delay passed")
                s.proc.send_signal(signal.SIGTERM)
                self.assertEqual(s.proc.wait(10), 0)
            finally:
                s.stop()

    def test_bind_conflict_crash_and_prune(self):
        with tempfile.TemporaryDirectory() as tmp:
            blobs = os.path.join(tmp, "models", "blobs")
            os.makedirs(blobs)
            old = os.path.join(blobs, "sha256-" + "a" * 64)
            stale_partial = os.path.join(blobs, "sha256-" + "b" * 64 + "-partial")
            fresh = os.path.join(blobs, "sha256-" + "c" * 64)
            for p in (old, stale_partial, fresh):
                with open(p, "wb") as f:
                    f.write(b"x")
            os.utime(old, (time.time() - 7200,) * 2)
            os.utime(stale_partial, (time.time() - 7200,) * 2)
            s = Standin(tmp, STANDIN_CRASH_AFTER=1.0)
            try:
                self.assertTrue(any("total blobs: 2" in l for l in s.err), s.err)
                self.assertTrue(any("total unused blobs removed: 1" in l for l in s.err))
                self.assertEqual(sorted(os.listdir(blobs)), [os.path.basename(fresh)])
                env = dict(os.environ, OLLAMA_HOST=f"127.0.0.1:{s.port}", OLLAMA_MODELS=os.path.join(tmp, "m2"))
                r = subprocess.run([sys.executable, STANDIN, "serve"], env=env, capture_output=True, text=True, timeout=10)
                self.assertEqual(r.returncode, 1)
                self.assertIn(f"Error: listen tcp 127.0.0.1:{s.port}: bind: address already in use", r.stderr)
                r = subprocess.run([sys.executable, STANDIN, "bogus"], capture_output=True, text=True, timeout=10)
                self.assertEqual(r.returncode, 2)
                self.assertEqual(s.proc.wait(10), 3)
            finally:
                s.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
