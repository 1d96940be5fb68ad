#!/usr/bin/env python3
"""Ollama stand-in server for FaceRunner tests.

The real `ollama` binary cannot be installed where FaceRunner's tests run, so
the tests start this script in its place (`ollama_standin.py serve`, exactly
as the real binary is started). It speaks the HTTP API described in
shared/reference/ollama-api.md (Ollama v0.33.0-rc2): the same endpoints,
status codes, error messages, NDJSON progress streams, model-name grammar,
environment variables, log formats and on-disk store layout
($OLLAMA_MODELS/manifests/<host>/<ns>/<model>/<tag>, blobs/sha256-<hex>).

What is fake:
  * the registry: any valid name can be "pulled"; its blobs are generated
    deterministically from the name (see Registry), optionally shaped by the
    JSON file named in STANDIN_REGISTRY;
  * inference: generate/chat answer a canned text, embed returns
    deterministic 8-dimensional vectors; "loading" only records the model in
    the /api/ps table with its keep-alive expiry.

For tests it adds fault injection (slow responses, throttled, failing or
dropped pulls, failing paths, a delayed start, a crash) set by STANDIN_* env
vars or at runtime via POST /__standin/faults, and an optional per-request
JSON log (STANDIN_REQUEST_LOG). See OLLAMA_STANDIN.md. Python 3.11 stdlib only.
"""

import contextlib
import datetime
import errno
import functools
import glob
import hashlib
import http.server
import ipaddress
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from urllib.parse import urlsplit

VERSION = "0.33.0-rc2"
DEFAULT_HOST, DEFAULT_NS, DEFAULT_TAG = "registry.ollama.ai", "library", "latest"
MT_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_LAYER = "application/vnd.ollama.image."
FOREVER = 9_223_372_036.0  # math.MaxInt64 nanoseconds, in seconds (~292 years)
REPLY = "Hello from the Ollama stand-in."
BLOCK = 65536
DIGEST_RE = re.compile(r"^sha256[:-]([0-9a-fA-F]{64})$")
BLOB_FILE_RE = re.compile(r"^sha256-[0-9a-f]{64}$")
PARAMS_BLOB = b'{"stop":["<|start_header_id|>","<|end_header_id|>","<|eot_id|>"]}'
PRIVATE_NETS = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]


# ----------------------------------------------------------------- helpers --

def env(key, default=""):
    """Like envconfig.Var: surrounding spaces and quotes stripped."""
    return os.environ.get(key, "").strip().strip("\"'") or default


def env_bool(key):
    v = env(key)
    if v in ("0", "f", "F", "FALSE", "false", "False", ""):
        return False
    return True  # true values and anything unparsable count as true


def open_read(path):
    with open(path, "rb") as f:
        return f.read()


GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
MAX_GGUF_HEADER = 16 << 20


def read_gguf_kv(path, limit=MAX_GGUF_HEADER):
    """The key/value pairs of a GGUF v2/v3 file's header, reading at most
    `limit` bytes; None when the file is not one (or its header is longer)."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError:
        return None
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("<Q")
        if pos + n > len(data):
            raise ValueError("cut short")
        pos += n
        return data[pos - n:pos].decode("utf-8", "replace")

    def value(ty, depth=0):
        if ty in GGUF_SCALARS:
            return take(GGUF_SCALARS[ty])
        if ty == 8:
            return string()
        if ty == 9 and depth == 0:
            inner, n = take("<I"), take("<Q")
            if n > len(data):
                raise ValueError("array longer than the file")
            return [value(inner, 1) for _ in range(n)]
        raise ValueError(f"bad type {ty}")

    try:
        if data[:4] != b"GGUF":
            return None
        pos = 4
        if take("<I") not in (2, 3):
            return None
        take("<Q")  # tensor count
        kv = {}
        for _ in range(take("<Q")):
            k = string()
            kv[k] = value(take("<I"))
        return kv
    except (struct.error, ValueError, RecursionError):
        return None


PARAM_SHAPES = [  # (up to N billion parameters, block_count, embedding_length, head_count)
    (2, 16, 2048, 32), (4, 28, 3072, 24), (10, 32, 4096, 32), (40, 48, 5120, 40), (float("inf"), 80, 8192, 64)]
FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11,
              "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18,
              "BF16": 32}


def fake_model_info(config):
    """GGUF keys for a generated (not parseable) model blob, from its config:
    the shape of a typical model of its family and parameter size."""
    fam = config.get("model_family") or "llama"
    size = str(config.get("model_type") or "1B")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMB])", size.strip().upper())
    params = float(m.group(1)) * {"K": 1e3, "M": 1e6, "B": 1e9}[m.group(2)] if m else 1e9
    info = {"general.architecture": fam, "general.parameter_count": int(params)}
    ft = FILE_TYPES.get(str(config.get("file_type", "")).upper())
    if ft is not None:
        info["general.file_type"] = ft
    if fam == "bert":
        info.update({"bert.block_count": 12, "bert.context_length": 512, "bert.embedding_length": 768,
                     "bert.attention.head_count": 12, "bert.pooling_type": 1})
    else:
        _, blocks, emb, heads = next(s for s in PARAM_SHAPES if params <= s[0] * 1e9)
        info.update({f"{fam}.block_count": blocks, f"{fam}.context_length": 131072,
                     f"{fam}.embedding_length": emb, f"{fam}.attention.head_count": heads,
                     f"{fam}.attention.head_count_kv": 8, f"{fam}.vocab_size": 128256})
    info["tokenizer.ggml.model"] = "gpt2"
    info["tokenizer.ggml.tokens"] = [f"t{i}" for i in range(8)]
    return info


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def gojson(obj):
    return json.dumps(obj, separators=(",", ":"))


def goquote(s):
    return json.dumps(str(s))


def rfc3339nano(ns=None):
    ns = time.time_ns() if ns is None else int(ns)
    sec, frac = divmod(ns, 10**9)
    dt = datetime.datetime.fromtimestamp(sec).astimezone()
    out = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        out += "." + f"{frac:09d}".rstrip("0")
    off = dt.strftime("%z")
    return out + ("Z" if off in ("+0000", "") else off[:3] + ":" + off[3:])


def go_duration_str(seconds):
    """time.Duration.String(), e.g. 462.5µs, 1.2ms, 5m0s."""
    ns = int(seconds * 1e9)
    for limit, div, unit in ((1e3, 1, "ns"), (1e6, 1e3, "µs"), (1e9, 1e6, "ms"), (60e9, 1e9, "s")):
        if ns < limit:
            return f"{ns / div:f}".rstrip("0").rstrip(".") + unit
    h, rest = divmod(ns / 1e9, 3600)
    m, sec = divmod(rest, 60)
    return (f"{int(h)}h" if h else "") + f"{int(m)}m" + f"{sec:f}".rstrip("0").rstrip(".") + "s"


_DUR_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_go_duration(text):
    """time.ParseDuration, returning seconds (raises ValueError with Go's message)."""
    s, sign = text, 1.0
    if s[:1] in ("+", "-"):
        sign, s = (-1.0 if s[0] == "-" else 1.0), s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"time: invalid duration {goquote(text)}")
    total, pos = 0.0, 0
    while pos < len(s):
        m = _DUR_RE.match(s, pos)
        if not m:
            if re.fullmatch(r"[0-9.]+", s[pos:]):
                raise ValueError(f"time: missing unit in duration {goquote(text)}")
            raise ValueError(f"time: invalid duration {goquote(text)}")
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def env_keep_alive():
    v = env("OLLAMA_KEEP_ALIVE")
    secs = 300.0
    if v:
        try:
            secs = parse_go_duration(v)
        except ValueError:
            try:
                secs = float(int(v))
            except ValueError:
                pass
    return FOREVER if secs < 0 else secs


def gotype(v):
    return {bool: "bool", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(v), "null")


_log_lock = threading.Lock()


def slog(level, msg, source="routes.go:1", **attrs):
    def q(v):
        v = str(v)
        return goquote(v) if (not v or re.search(r'[\s="]', v)) else v
    now = datetime.datetime.now().astimezone()
    off = now.strftime("%z")
    t = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}" + \
        ("Z" if off in ("+0000", "") else off[:3] + ":" + off[3:])
    parts = [f"time={t}", f"level={level}", f"source={source}", f"msg={q(msg)}"]
    parts += [f"{k}={q(v)}" for k, v in attrs.items()]
    with _log_lock:
        try:
            sys.stderr.write(" ".join(parts) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


class ApiError(Exception):
    """An Ollama-style error; status None means "no status of its own" (→ 500)."""

    def __init__(self, status, msg):
        super().__init__(msg)
        self.status, self.msg = status, msg


class DropConnection(Exception):
    """Abruptly close the client connection (drop_pull fault)."""


# ------------------------------------------------------------------ names --

class Name:
    """A model name per types/model/name.go: [scheme://][host/][namespace/]model[:tag]."""

    MISSING = "!MISSING!"
    _FIRST = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

    def __init__(self, host, namespace, model, tag, scheme="https"):
        self.host, self.namespace, self.model, self.tag, self.scheme = host, namespace, model, tag, scheme

    @classmethod
    def parse(cls, s):
        def cut(s, sep):  # cutPromised: split at the last sep; empty sides become MISSING
            i = s.rfind(sep)
            if i < 0:
                return s, "", False
            return s[:i] or cls.MISSING, s[i + len(sep):] or cls.MISSING, True

        host = ns = tag = ""
        scheme = "https"
        if s.rfind(":") > s.rfind("/"):
            s, tag, _ = cut(s, ":")
        s, model, ok = cut(s, "/")
        if not ok:
            model = s
        else:
            s, ns, ok = cut(s, "/")
            if not ok:
                ns = s
            else:
                sch, sep, rest = s.partition("://")
                scheme, host = (sch, rest) if sep else ("https", s)
        return cls(host or DEFAULT_HOST, ns or DEFAULT_NS, model, tag or DEFAULT_TAG, scheme)

    @classmethod
    def _part_ok(cls, kind, s):
        if not 1 <= len(s) <= (350 if kind == "host" else 80) or s[0] not in cls._FIRST:
            return False
        for c in s[1:]:
            if c in cls._FIRST or c in "_-" or (c == "." and kind != "namespace") or (c == ":" and kind == "host"):
                continue
            return False
        return True

    def valid(self):
        return all(self._part_ok(k, v) for k, v in zip(("host", "namespace", "model", "tag"), self.parts()))

    def parts(self):
        return self.host, self.namespace, self.model, self.tag

    def key(self):
        return str(self).lower()

    def __str__(self):
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    def display(self):
        """DisplayShortest (§2.4)."""
        if self.host.lower() != DEFAULT_HOST:
            return str(self)
        if self.namespace.lower() != DEFAULT_NS:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"


# ------------------------------------------------------------------ store --

class Model:
    """An installed model, read from its manifest and config blob."""

    def __init__(self, store, name, path):
        self.name, self.path, self.store = name, path, store
        self.raw = open_read(path)
        self.mtime_ns = os.stat(path).st_mtime_ns
        self.manifest = json.loads(self.raw)
        self.digest = hashlib.sha256(self.raw).hexdigest()
        self.layers = self.manifest.get("layers") or []
        cfg = self.manifest.get("config") or {}
        self.size = sum(int(l.get("size", 0)) for l in self.layers) + int(cfg.get("size", 0))
        self.config = json.loads(open_read(store.blob_path(cfg["digest"])))

    def details(self):
        c = self.config
        return {"parent_model": "", "format": c.get("model_format", ""), "family": c.get("model_family", ""),
                "families": c.get("model_families"), "parameter_size": c.get("model_type", ""),
                "quantization_level": c.get("file_type", "")}

    def capabilities(self):
        return self.config.get("capabilities") or ["completion"]

    def model_info(self, verbose=False):
        """`model_info`: the model blob's GGUF header KVs when it has one
        (created from a real GGUF), else keys derived from the config (see
        fake_model_info). Arrays longer than 5 are emptied unless verbose."""
        layer = next((l for l in self.layers if l.get("mediaType") == MT_LAYER + "model"), None)
        kv = read_gguf_kv(self.store.blob_path(layer["digest"])) if layer else None
        info = kv if kv is not None and "general.architecture" in kv else fake_model_info(self.config)
        return {k: (v if verbose or not isinstance(v, list) or len(v) <= 5 else []) for k, v in info.items()}

    def layer_text(self, kind):
        """Contents of the layers of one media type (template, system, params, …)."""
        return [open_read(self.store.blob_path(l["digest"])).decode("utf-8", "replace")
                for l in self.layers if l.get("mediaType") == MT_LAYER + kind]


class Store:
    """The on-disk model store of §5 (manifests/, blobs/)."""

    def __init__(self, root):
        self.root = root
        self.manifests = os.path.join(root, "manifests")
        self.blobs = os.path.join(root, "blobs")
        self.lock = threading.RLock()
        for d in (self.manifests, self.blobs):
            os.makedirs(d, mode=0o755, exist_ok=True)

    def blob_path(self, digest):
        return os.path.join(self.blobs, digest.replace(":", "-"))

    def has_blob(self, digest):
        return os.path.isfile(self.blob_path(digest))

    def manifest_path(self, name):
        return os.path.join(self.manifests, *name.parts())

    def names(self):
        """All (Name, path) of manifests: files exactly 4 levels deep (glob */*/*/*)."""
        out = []
        for p in sorted(glob.glob(os.path.join(glob.escape(self.manifests), "*", "*", "*", "*"))):
            if os.path.isfile(p):
                n = Name(*os.path.relpath(p, self.manifests).split(os.sep))
                if n.valid():
                    out.append((n, p))
        return out

    def resolve(self, name):
        """getExistingName: re-case each part to match an installed manifest."""
        parts = list(name.parts())
        fixed = [False] * 4
        for other, _ in self.names():
            for i, part in enumerate(other.parts()):
                if not fixed[i] and part.lower() == parts[i].lower():
                    parts[i], fixed[i] = part, True
        return Name(*parts, scheme=name.scheme)

    def model(self, name):
        p = self.manifest_path(name)
        if not os.path.isfile(p):
            return None
        try:
            return Model(self, name, p)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ApiError(500, f"manifest for {name.display()} is unreadable: {e}")

    def models(self):
        out = []
        for n, p in self.names():
            try:
                out.append(Model(self, n, p))
            except (OSError, ValueError, KeyError, TypeError) as e:
                slog("WARN", "bad manifest", source="manifest.go:1", name=str(n), error=str(e))
        return out

    @staticmethod
    def _write_file(path, data):
        tmp = os.path.join(os.path.dirname(path), f".tmp-{os.path.basename(path)}-{random.getrandbits(32):08x}")
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def write_manifest(self, name, data):
        p = self.manifest_path(name)
        with self.lock:
            os.makedirs(os.path.dirname(p), mode=0o755, exist_ok=True)
            self._write_file(p, data)

    def write_blob(self, data):
        """Store bytes content-addressed; returns (digest, created)."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self.has_blob(digest):
            return digest, False
        self._write_file(self.blob_path(digest), data)
        return digest, True

    def referenced(self, strict=False):
        refs = set()
        for _, p in self.names():
            try:
                m = json.loads(open_read(p))
                refs.add(m["config"]["digest"])
                refs.update(l["digest"] for l in m.get("layers") or [])
            except (OSError, ValueError, KeyError, TypeError):
                if strict:
                    raise ValueError(f"corrupt manifest {p}")
        return refs

    def remove_unreferenced(self, digests):
        with self.lock:
            for d in set(digests) - self.referenced():
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.blob_path(d))

    def delete(self, model):
        with self.lock:
            os.remove(model.path)
            self.remove_unreferenced([l["digest"] for l in model.layers] + [model.manifest["config"]["digest"]])
            self.prune_dirs()

    def prune_dirs(self):
        for dirpath, _, _ in sorted(os.walk(self.manifests), key=lambda t: -len(t[0])):
            if dirpath != self.manifests:
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)

    def startup_prune(self, noprune):
        for f in os.listdir(self.blobs):  # fixBlobs
            if f.startswith("sha256:"):
                os.replace(os.path.join(self.blobs, f), os.path.join(self.blobs, f.replace(":", "-")))
        if noprune:
            return
        try:
            refs = self.referenced(strict=True)
        except ValueError as e:
            slog("WARN", "skipping prune: corrupt manifest", source="images.go:1", error=str(e))
            return
        cutoff, total, removed = time.time() - 3600, 0, 0
        for f in os.listdir(self.blobs):
            p = os.path.join(self.blobs, f)
            is_blob = bool(BLOB_FILE_RE.match(f))
            total += is_blob
            if (not is_blob or f.replace("-", ":", 1) not in refs) and os.stat(p).st_mtime < cutoff:
                os.remove(p)
                removed += is_blob
        slog("INFO", f"total blobs: {total}", source="images.go:1")
        slog("INFO", f"total unused blobs removed: {removed}", source="images.go:1")
        self.prune_dirs()


# --------------------------------------------------------------- registry --

class RemoteBlob:
    """A registry blob: fixed bytes, or a deterministic SHAKE-256 block stream."""

    def __init__(self, media_type, data=None, seed=None, size=0):
        self.media_type, self.data, self.seed = media_type, data, seed
        self.size = len(data) if data is not None else size
        if data is None:
            h = hashlib.sha256()
            for pos in range(0, self.size, BLOCK * 16):
                h.update(self.read(pos, min(self.size, pos + BLOCK * 16)))
            self.digest = "sha256:" + h.hexdigest()
        else:
            self.digest = "sha256:" + hashlib.sha256(data).hexdigest()

    @functools.lru_cache(maxsize=4)
    def _block(self, k):
        b = hashlib.shake_256(f"{self.seed}:{k}".encode()).digest(BLOCK)
        return b"GGUF\x03\x00\x00\x00" + b[8:] if k == 0 else b  # GGUF magic up front

    def read(self, start, end):
        if self.data is not None:
            return self.data[start:end]
        out = bytearray()
        while start < end:
            k, lo = divmod(start, BLOCK)
            take = min(end - start, BLOCK - lo)
            out += self._block(k)[lo:lo + take]
            start += take
        return bytes(out)

    def descriptor(self):
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class Registry:
    """The fake registry: every valid name exists, except model names starting
    with `missing`/`nonexistent`. STANDIN_REGISTRY (re-read on each pull) may
    set size/family/parameter_size/quantization_level/digest_seed/embedding."""

    def __init__(self, path, default_size):
        self.path, self.default_size = path, default_size
        self._cache = {}

    def _entries(self):
        if not self.path:
            return {}
        try:
            with open(self.path, encoding="utf-8") as f:
                models = json.load(f).get("models") or {}
        except (OSError, ValueError) as e:
            slog("WARN", "cannot read STANDIN_REGISTRY", source="standin.py:1", path=self.path, error=str(e))
            return {}
        return {Name.parse(k).key(): v for k, v in models.items()}

    def lookup(self, name):
        """Returns (layers, config_blob, manifest_bytes) or None when it does not exist."""
        if name.model.lower().startswith(("missing", "nonexistent")):
            return None
        e = self._entries().get(name.key(), {})
        embedding = e.get("embedding", "embed" in name.model.lower())
        fam = e.get("family", "bert" if embedding else "llama")
        size = int(e.get("size", self.default_size))
        seed = f"{name.key()}|{e.get('digest_seed', '')}"
        ck = (seed, size)
        if ck not in self._cache:
            self._cache[ck] = RemoteBlob(MT_LAYER + "model", seed=seed, size=size)
        layers = [self._cache[ck], RemoteBlob(MT_LAYER + "params", data=PARAMS_BLOB)]
        cfg = {"model_format": "gguf", "model_family": fam, "model_families": [fam],
               "model_type": e.get("parameter_size", "1B"),
               "file_type": e.get("quantization_level", "F16" if embedding else "Q4_K_M"),
               "capabilities": ["embedding"] if embedding else ["completion"],
               "architecture": "amd64", "os": "linux",
               "rootfs": {"type": "layers", "diff_ids": [l.digest for l in layers]}}
        config = RemoteBlob(MT_CONFIG, data=gojson(cfg).encode())
        manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": config.descriptor(),
                    "layers": [l.descriptor() for l in layers]}
        return layers, config, gojson(manifest).encode()


# ----------------------------------------------------------------- faults --

class Faults:
    """Injected faults: STANDIN_<KEY> env vars at start, POST /__standin/faults at runtime."""

    FLOATS = ("startup_delay", "pull_rate", "slow", "crash_after", "stream_delay")
    LISTS = ("fail_pull", "drop_pull", "fail_paths")

    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}
        for k in self.FLOATS + self.LISTS:
            v = env("STANDIN_" + k.upper())
            if v:
                try:
                    self._set(k, v)
                except ValueError as e:
                    slog("WARN", "ignoring fault", source="standin.py:1", key=k, error=str(e))

    def _set(self, k, v):
        if k in self.FLOATS:
            if isinstance(v, bool) or not isinstance(v, (int, float, str)) or float(v) < 0:
                raise ValueError(f"{k} must be a non-negative number")
            self.values[k] = float(v)
        elif k in self.LISTS:
            if isinstance(v, str):
                v = v.split(",")
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ValueError(f"{k} must be a list of strings or a comma-separated string")
            self.values[k] = [x.strip() for x in v if x.strip()]
        else:
            raise ValueError(f"unknown fault key {k!r}")

    def update(self, body):
        with self.lock:
            new = {} if body.get("reset") else dict(self.values)
            old, self.values = self.values, new
            try:
                for k, v in body.items():
                    if k == "reset":
                        continue
                    if v is None:
                        self.values.pop(k, None)
                    else:
                        self._set(k, v)
            except ValueError:
                self.values = old
                raise
            return dict(self.values)

    def snapshot(self):
        with self.lock:
            return dict(self.values)

    def get(self, k, default=0.0):
        with self.lock:
            return self.values.get(k, default)

    def pull_fault(self, name):
        """"fail"/"drop" when the name is listed (case-insensitive, after normalization)."""
        for key, fault in (("fail_pull", "fail"), ("drop_pull", "drop")):
            if any(name.key() in (s.lower(), Name.parse(s).key()) for s in self.get(key, [])):
                return fault
        return None

    def path_fails(self, path):
        return path in self.get("fail_paths", [])


# ----------------------------------------------------------------- puller --

class Puller:
    """Pulls from the fake Registry into the Store, streaming §1.5 progress."""

    def __init__(self, store, registry, faults, noprune):
        self.store, self.registry, self.faults, self.noprune = store, registry, faults, noprune
        self._locks, self._locks_lock = {}, threading.Lock()

    def _lock(self, digest):
        with self._locks_lock:
            return self._locks.setdefault(digest, threading.Lock())

    def pull(self, name, given, emit, insecure=False):
        if name.scheme == "http" and not insecure:
            raise ApiError(None, "insecure protocol http")
        emit({"status": "pulling manifest"})
        remote = self.registry.lookup(name)
        if remote is None:
            raise ApiError(None, "pull model manifest: file does not exist")
        layers, config, manifest = remote
        fault = self.faults.pull_fault(name)
        try:
            old = self.store.model(name)
        except ApiError:
            old = None
        for blob in layers + [config]:
            if self._download(blob, emit, fault, given):
                fault = None
        emit({"status": "verifying sha256 digest"})
        emit({"status": "writing manifest"})
        self.store.write_manifest(name, manifest)
        if old and not self.noprune:
            new = {l.digest for l in layers} | {config.digest}
            stale = {l["digest"] for l in old.layers} | {old.manifest["config"]["digest"]}
            unused = stale - new - self.store.referenced()
            if unused:
                emit({"status": "removing unused layers"})
                self.store.remove_unreferenced(unused)
        emit({"status": "success"})

    @staticmethod
    def _progress(blob, completed):
        p = {"status": f"pulling {blob.digest[7:19]}", "digest": blob.digest}
        if blob.size:
            p["total"] = blob.size
        if completed:
            p["completed"] = completed
        return p

    def _download(self, blob, emit, fault, given):
        """Download one blob; returns True when it actually downloaded (fault consumed)."""
        final = self.store.blob_path(blob.digest)
        partial = final + "-partial"
        lock = self._lock(blob.digest)
        while not lock.acquire(timeout=0.06):  # another pull is downloading it: share its progress
            emit(self._progress(blob, file_size(partial)))
        try:
            if os.path.isfile(final):
                emit(self._progress(blob, blob.size))
                return False
            pos = file_size(partial)
            if pos > blob.size:
                os.remove(partial)
                pos = 0
            emit(self._progress(blob, pos))
            stop = blob.size // 2 if fault else blob.size
            last_emit, emitted = time.monotonic(), pos
            with open(partial, "ab") as f:
                os.chmod(partial, 0o644)
                while pos < stop:
                    rate = self.faults.get("pull_rate")
                    chunk = max(1, min(BLOCK, int(rate / 20))) if rate else BLOCK
                    data = blob.read(pos, min(stop, pos + chunk))
                    f.write(data)
                    pos += len(data)
                    if rate:
                        time.sleep(len(data) / rate)
                    if time.monotonic() - last_emit >= 0.06 and pos < blob.size:
                        f.flush()
                        emit(self._progress(blob, pos))
                        last_emit, emitted = time.monotonic(), pos
            if fault == "fail":
                raise ApiError(None, f"pull model manifest: simulated failure for {given}")
            if fault == "drop":
                raise DropConnection()
            if emitted != blob.size:
                emit(self._progress(blob, blob.size))
            h = hashlib.sha256()
            with open(partial, "rb") as f:
                for piece in iter(lambda: f.read(1 << 20), b""):
                    h.update(piece)
            if "sha256:" + h.hexdigest() != blob.digest:
                os.remove(partial)
                raise ApiError(None, f"digest mismatch, file must be downloaded again: want {blob.digest}, "
                                     f"got sha256:{h.hexdigest()}")
            os.replace(partial, final)
            return True
        finally:
            lock.release()


# -------------------------------------------------------------- server state --

class StandinServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True
    allow_reuse_port = False

    def server_bind(self):  # skip HTTPServer's getfqdn() lookup
        import socketserver
        socketserver.TCPServer.server_bind(self)

    def setup_state(self, store, faults, request_log):
        self.store, self.faults, self.request_log = store, faults, request_log
        self.noprune = env_bool("OLLAMA_NOPRUNE")
        size = int(env("STANDIN_DEFAULT_SIZE", "262144"))
        self.puller = Puller(store, Registry(env("STANDIN_REGISTRY"), size), faults, self.noprune)
        self.keep_alive = env_keep_alive()
        self.default_ctx = int(env("OLLAMA_CONTEXT_LENGTH", "0") or 0) or 4096
        self.loaded, self.loaded_lock = {}, threading.Lock()
        self.log_lock = threading.Lock()
        addr = ipaddress.ip_address(self.server_address[0].split("%")[0])
        self.loopback = addr.is_loopback
        self.hostname = socket.gethostname().lower()
        self.local_ips = set()
        with contextlib.suppress(OSError):
            self.local_ips.update(socket.gethostbyname_ex(socket.gethostname())[2])

    def host_allowed(self, host):
        """Host-header guard (§0), active only when bound to loopback."""
        if not self.loopback:
            return True
        host = host.strip()
        if host.startswith("[") and "]" in host:
            host = host[1:host.index("]")]
        elif host.count(":") == 1:
            host = host.split(":")[0]
        try:
            ip = ipaddress.ip_address(host)
            if ip.is_loopback or ip.is_unspecified or any(ip in n for n in PRIVATE_NETS if n.version == ip.version) \
                    or host in self.local_ips:
                return True
        except ValueError:
            pass
        host = host.lower()
        return host in ("", "localhost", self.hostname) or host.endswith((".localhost", ".local", ".internal"))

    def load(self, model, keep_alive, num_ctx):
        with self.loaded_lock:
            self.loaded[model.name.key()] = {"model": model, "expires": time.time() + keep_alive, "ctx": num_ctx}

    def unload(self, name):
        with self.loaded_lock:
            self.loaded.pop(name.key(), None)

    def running(self):
        now = time.time()
        with self.loaded_lock:
            for k in [k for k, v in self.loaded.items() if v["expires"] <= now]:
                del self.loaded[k]
            return sorted(self.loaded.values(), key=lambda v: -v["expires"])


# ---------------------------------------------------------------- handler --

ROUTES = {
    "/": {"GET": "root", "HEAD": "root"},
    "/api/version": {"GET": "version", "HEAD": "version"},
    "/api/status": {"GET": "status"},
    "/api/tags": {"GET": "tags", "HEAD": "tags"},
    "/api/ps": {"GET": "ps"},
    "/api/show": {"POST": "show"},
    "/api/pull": {"POST": "pull"},
    "/api/push": {"POST": "push"},
    "/api/delete": {"DELETE": "delete"},
    "/api/copy": {"POST": "copy"},
    "/api/create": {"POST": "create"},
    "/api/generate": {"POST": "generate"},
    "/api/chat": {"POST": "chat"},
    "/api/embed": {"POST": "embed"},
    "/api/embeddings": {"POST": "embeddings"},
    "/__standin/faults": {"GET": "faults", "POST": "faults"},
}
BLOB_ROUTE = {"HEAD": "blob_head", "POST": "blob_post"}
NO_BODY = {"root", "version", "status", "tags", "ps", "blob_head", "blob_post"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Ollama's Go server sets TCP_NODELAY on every connection: each streamed
    # line leaves at once instead of waiting out the client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = "ollama-standin/" + VERSION

    def version_string(self):
        return self.server_version

    # ---- plumbing -------------------------------------------------------
    def log_message(self, *args):
        pass

    def log_request(self, code="-", size="-"):
        """Called when the status line goes out: record it and write the request log."""
        self.status = int(code)
        if self.server.request_log:
            line = gojson({"method": self.command, "path": getattr(self, "route_path", ""), "status": self.status,
                           "ts": time.time()})
            with self.server.log_lock:
                with open(self.server.request_log, "a", encoding="utf-8") as f:
                    f.write(line + "\n")

    def log_event(self, event):
        """A request-log line about a stream (no `path` key, so path counts are unchanged)."""
        if self.server.request_log:
            line = gojson({"event": event, "route": getattr(self, "route_path", ""), "ts": time.time()})
            with self.server.log_lock:
                with open(self.server.request_log, "a", encoding="utf-8") as f:
                    f.write(line + "\n")

    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = do_GET  # routed (404/405) in dispatch

    def dispatch(self):
        t0, self.status, self.chunked = time.monotonic(), 0, False
        self.route_path = urlsplit(self.path).path
        path = self.route_path
        try:
            if not self.server.host_allowed(self.headers.get("Host", "")):
                self.read_body()
                return self.reply(403, b"")
            internal = path.startswith("/__standin/")
            slow = 0 if internal else self.server.faults.get("slow")
            if slow:
                time.sleep(slow)
            if path.startswith("/api/blobs/") and len(path) > len("/api/blobs/") and "/" not in path[11:]:
                methods, arg = BLOB_ROUTE, path[len("/api/blobs/"):]
            else:
                methods, arg = ROUTES.get(path), None
            action = methods.get(self.command) if methods else None
            raw = b"" if action in ("blob_post",) else self.read_body()
            if not internal and self.server.faults.path_fails(path):
                return self.send_json(500, {"error": "simulated internal error"})
            if methods is None:
                return self.reply(404, b"404 page not found", "text/plain")
            if action is None:
                return self.reply(405, b"405 method not allowed", "text/plain")
            handler = getattr(self, "api_" + action)
            if action == "faults":
                handler(self.parse_body(raw) if self.command == "POST" else None)
            elif action in NO_BODY:
                handler(arg) if arg is not None else handler()
            else:
                handler(self.parse_body(raw))
        except ApiError as e:
            if self.chunked:
                self.close_connection = True
            else:
                self.send_json(e.status or 500, {"error": e.msg})
        except DropConnection:
            self.drop()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout):
            self.close_connection = True
        except Exception as e:  # a bug in the stand-in: answer like a Go handler error would
            slog("ERROR", "internal error", source="standin.py:1", path=path, error=repr(e))
            self.close_connection = True
            if not self.chunked:
                self.send_json(500, {"error": f"stand-in internal error: {e}"})
        finally:
            if not self.status:  # cut before a status line went out: still one request
                self.log_request(0)
            self.gin_log(time.monotonic() - t0)

    def gin_log(self, latency):
        line = (f"[GIN] {time.strftime('%Y/%m/%d - %H:%M:%S')} | {self.status or 0:3d} | "
                f"{go_duration_str(latency):>13} | {self.client_address[0]:>15} | {self.command:<7} {goquote(self.path)}\n")
        with _log_lock:
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except (OSError, ValueError):
                pass

    def read_body(self):
        return b"".join(self.iter_body())

    def iter_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                while size:
                    data = self.rfile.read(min(size, BLOCK))
                    if not data:
                        raise ConnectionResetError("short chunked body")
                    size -= len(data)
                    yield data
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                data = self.rfile.read(min(left, BLOCK))
                if not data:
                    raise ConnectionResetError("short body")
                left -= len(data)
                yield data

    @staticmethod
    def parse_body(raw):
        if not raw.strip():
            raise ApiError(400, "missing request body")
        try:
            obj = json.loads(raw)
        except UnicodeDecodeError:
            raise ApiError(400, "invalid character in request body")
        except json.JSONDecodeError as e:
            if e.pos >= len(e.doc.rstrip()):
                raise ApiError(400, "unexpected EOF")
            raise ApiError(400, f"invalid character {e.doc[e.pos]!r} looking for beginning of value")
        if obj is None:
            return {}
        if not isinstance(obj, dict):
            raise ApiError(400, f"json: cannot unmarshal {gotype(obj)} into Go value of type api.Request")
        return obj

    def reply(self, status, body, ctype=None):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype + "; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj):
        self.reply(status, gojson(obj).encode(), "application/json")

    def write_line(self, obj):
        if not self.chunked:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            if self.request_version == "HTTP/1.1":
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.close_connection = True
                self.send_header("Connection", "close")
            self.end_headers()
            self.chunked = True
        data = (gojson(obj) + "\n").encode()
        if self.request_version == "HTTP/1.1":
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.wfile.write(data)

    def end_stream(self):
        if self.chunked and self.request_version == "HTTP/1.1":
            self.wfile.write(b"0\r\n\r\n")

    def drop(self):
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def progress(self, stream, fn):
        """Run fn(emit) as a progress stream (NDJSON), or collect its last object."""
        if stream:
            try:
                fn(self.write_line)
            except ApiError as e:
                if not self.chunked:
                    raise
                self.write_line({"error": e.msg})
            self.end_stream()
            return
        last = [{}]
        fn(lambda obj: last.__setitem__(0, obj))
        self.send_json(200, last[0])

    # ---- request helpers -----------------------------------------------
    @staticmethod
    def field(body, key, kind=str, default=None):
        v = body.get(key)
        if v is None:
            return default
        if not isinstance(v, kind) or (kind in (int, float) and isinstance(v, bool)):
            raise ApiError(400, f"json: cannot unmarshal {gotype(v)} into Go struct field .{key} "
                                f"of type {getattr(kind, '__name__', 'value')}")
        return v

    def model_name(self, body, invalid_msg="invalid model name", required=True):
        given = self.field(body, "model", str) or self.field(body, "name", str) or ""
        if not given and required:
            raise ApiError(400, "model is required")
        name = Name.parse(given)
        if not name.valid():
            raise ApiError(400, invalid_msg.format(goquote(given)))
        return given, self.server.store.resolve(name)

    def keep_alive(self, body):
        v = body.get("keep_alive")
        if v is None:
            return self.server.keep_alive
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ApiError(400, f"json: cannot unmarshal {gotype(v)} into Go struct field .keep_alive of type api.Duration")
        if isinstance(v, str):
            try:
                v = parse_go_duration(v)
            except ValueError as e:
                raise ApiError(400, str(e))
        return FOREVER if v < 0 else float(v)

    def num_ctx(self, body):
        opts = body.get("options") if isinstance(body.get("options"), dict) else {}
        n = opts.get("num_ctx")
        return int(n) if isinstance(n, (int, float)) and not isinstance(n, bool) and n > 0 else self.server.default_ctx

    # ---- endpoints -----------------------------------------------------
    def api_root(self):
        self.reply(200, b"Ollama is running", "text/plain")

    def api_version(self):
        self.send_json(200, {"version": VERSION})

    def api_status(self):
        disabled = env_bool("OLLAMA_NO_CLOUD")
        self.send_json(200, {"cloud": {"disabled": disabled, "source": "env" if disabled else "none"}})

    def api_faults(self, body=None):
        if self.command == "POST":
            try:
                self.send_json(200, self.server.faults.update(body))
            except ValueError as e:
                raise ApiError(400, str(e))
        else:
            self.send_json(200, self.server.faults.snapshot())

    def api_tags(self):
        models = sorted(self.server.store.models(), key=lambda m: -m.mtime_ns)
        self.send_json(200, {"models": [
            {"name": m.name.display(), "model": m.name.display(), "modified_at": rfc3339nano(m.mtime_ns),
             "size": m.size, "digest": m.digest, "details": m.details(), "capabilities": m.capabilities()}
            for m in models]})

    def api_ps(self):
        out = []
        for r in self.server.running():
            m = r["model"]
            out.append({"name": m.name.display(), "model": m.name.display(), "size": m.size, "digest": m.digest,
                        "details": m.details(), "expires_at": rfc3339nano(r["expires"] * 1e9),
                        "size_vram": m.size, "context_length": r["ctx"]})
        self.send_json(200, {"models": out})

    def api_show(self, body):
        given, name = self.model_name(body)
        m = self.server.store.model(name)
        if m is None:
            raise ApiError(404, f"model '{name.display()}' not found")
        params = {}
        for text in m.layer_text("params"):
            with contextlib.suppress(ValueError):
                params.update(json.loads(text))
        plines = [f"{k:<30} {gojson(x)}" for k, v in sorted(params.items())
                  for x in (v if isinstance(v, list) else [v])]
        template, system = "".join(m.layer_text("template")), "".join(m.layer_text("system"))
        licenses = m.layer_text("license")
        model_layer = next((l["digest"] for l in m.layers if l.get("mediaType") == MT_LAYER + "model"), "")
        mf = [f'# Modelfile generated by "ollama show"', "# To build a new Modelfile based on this, replace FROM with:",
              f"# FROM {m.name.display()}", "", f"FROM {self.server.store.blob_path(model_layer)}"]
        mf += [f'TEMPLATE """{template}"""'] if template else []
        mf += [f'SYSTEM """{system}"""'] if system else []
        mf += [f"PARAMETER {k} {gojson(x) if isinstance(x, str) else x}" for k, v in sorted(params.items())
               for x in (v if isinstance(v, list) else [v])]
        mf += [f'LICENSE """{lic}"""' for lic in licenses]
        resp = {"modelfile": "\n".join(mf) + "\n", "parameters": "\n".join(plines), "template": template,
                "system": system, "license": "\n".join(licenses), "details": m.details(),
                "model_info": m.model_info(bool(body.get("verbose"))),
                "capabilities": m.capabilities(), "modified_at": rfc3339nano(m.mtime_ns)}
        msgs = m.layer_text("messages")
        if msgs:
            resp["messages"] = json.loads(msgs[0])
        self.send_json(200, {k: v for k, v in resp.items() if v not in ("", None)})

    def api_pull(self, body):
        given, name = self.model_name(body, required=False)
        insecure = bool(body.get("insecure"))
        self.progress(body.get("stream", True) is not False,
                      lambda emit: self.server.puller.pull(name, given, emit, insecure))

    def api_push(self, body):
        given, name = self.model_name(body)

        def run(emit):
            emit({"status": "retrieving manifest"})
            m = self.server.store.model(name)
            if m is None:
                emit({"status": "couldn't retrieve manifest"})
                raise ApiError(None, "open " + self.server.store.manifest_path(name) + ": no such file or directory")
            for l in m.layers + [m.manifest["config"]]:
                emit({"status": f"pushing {l['digest'][7:19]}", "digest": l["digest"],
                      "total": l["size"], "completed": l["size"]})
            emit({"status": "pushing manifest"})
            emit({"status": "success"})
        self.progress(body.get("stream", True) is not False, run)

    def api_delete(self, body):
        given, name = self.model_name(body, invalid_msg="name {} is invalid")
        m = self.server.store.model(name)
        if m is None:
            raise ApiError(404, f"model '{given}' not found")
        self.server.store.delete(m)
        self.server.unload(name)
        self.reply(200, b"")

    def api_copy(self, body):
        src_s, dst_s = self.field(body, "source", str, ""), self.field(body, "destination", str, "")
        src, dst = Name.parse(src_s), Name.parse(dst_s)
        if not src.valid():
            raise ApiError(400, f"source {goquote(src_s)} is invalid")
        if not dst.valid():
            raise ApiError(400, f"destination {goquote(dst_s)} is invalid")
        store = self.server.store
        m = store.model(store.resolve(src))
        if m is None:
            raise ApiError(404, f"model {goquote(src_s)} not found")
        store.write_manifest(store.resolve(dst), m.raw)
        self.reply(200, b"")

    def api_create(self, body):
        given, name = self.model_name(body, required=False)
        frm, files = self.field(body, "from", str, ""), self.field(body, "files", dict, {})
        adapters = self.field(body, "adapters", dict, {})
        if not frm and not files:
            raise ApiError(400, "neither 'from' or 'files' was specified")
        for fn in list(files) + list(adapters):
            if os.path.isabs(fn) or ".." in fn.replace("\\", "/").split("/"):
                raise ApiError(400, "file path must be relative")
        self.progress(body.get("stream", True) is not False,
                      lambda emit: self._create(name, body, frm, files, adapters, emit))

    def _create(self, name, body, frm, files, adapters, emit):
        store = self.server.store
        layers, config = [], {"model_format": "gguf", "model_family": "llama", "model_families": ["llama"],
                              "model_type": "1B", "file_type": "F16", "architecture": "amd64", "os": "linux"}
        if frm:
            fname = Name.parse(frm)
            if not fname.valid():
                raise ApiError(400, "invalid model name")
            fname = store.resolve(fname)
            if store.model(fname) is None:
                self.server.puller.pull(fname, frm, emit)
            base = store.model(fname)
            layers, config = list(base.layers), dict(base.config)

        def blob_layer(digest, kind):
            m = DIGEST_RE.match(str(digest))
            if not m or not store.has_blob("sha256:" + m.group(1).lower()):
                raise ApiError(400, f"blob {goquote(digest)} not found")
            d = "sha256:" + m.group(1).lower()
            return {"mediaType": MT_LAYER + kind, "digest": d, "size": os.path.getsize(store.blob_path(d))}

        for fn, digest in sorted(files.items()):
            emit({"status": "converting model" if fn.endswith(".safetensors") else "parsing GGUF"})
            layers.append(blob_layer(digest, "projector" if "mmproj" in fn.lower() else "model"))
            q = re.search(r"(?i)(IQ\d_[A-Z0-9_]+|Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32)", fn)
            if q and not frm:
                config["file_type"] = q.group(1).upper()
        for fn, digest in sorted(adapters.items()):
            emit({"status": "converting adapter" if fn.endswith(".safetensors") else "parsing GGUF"})
            layers.append(blob_layer(digest, "adapter"))
        existing = {l["digest"] for l in layers}
        quantize = self.field(body, "quantize", str, "")
        if quantize:
            src_type = str(config.get("file_type", "")).upper()
            if src_type not in ("F16", "BF16", "F32"):
                raise ApiError(400, "quantization is only supported for F16, BF16, and F32 models")
            for i, l in enumerate(layers):
                if l["mediaType"] == MT_LAYER + "model":
                    status = f"quantizing {src_type} model to {quantize.upper()}"
                    emit({"status": status, "digest": "0000000000000000000", "total": l["size"]})
                    q = RemoteBlob(MT_LAYER + "model", seed=f"{l['digest']}:{quantize.upper()}", size=max(1, l["size"] // 2))
                    store.write_blob(q.read(0, q.size))
                    emit({"status": status, "digest": "0000000000000000000", "total": l["size"], "completed": l["size"]})
                    emit({"status": "verifying conversion"})
                    layers[i] = q.descriptor()
            config["file_type"] = quantize.upper()

        params = {}
        if isinstance(body.get("parameters"), dict):
            base_params = next((l for l in layers if l["mediaType"] == MT_LAYER + "params"), None)
            if base_params:
                params = json.loads(open_read(store.blob_path(base_params["digest"])))
            params.update(body["parameters"])
        lic = body.get("license")
        texts = [("template", body.get("template")), ("system", body.get("system"))]
        texts += [("license", x) for x in ([lic] if isinstance(lic, str) else lic or [])]
        texts += [("params", gojson(params) if params else None),
                  ("messages", gojson(body["messages"]) if isinstance(body.get("messages"), list) else None)]
        for kind in {k for k, v in texts if isinstance(v, str)}:
            layers = [l for l in layers if l["mediaType"] != MT_LAYER + kind]
        for kind, text in texts:
            if isinstance(text, str):
                digest, created = store.write_blob(text.encode())
                if not created:
                    existing.add(digest)
                layers.append({"mediaType": MT_LAYER + kind, "digest": digest, "size": len(text.encode())})
        for l in layers:
            verb = "using existing layer" if l["digest"] in existing else "creating new layer"
            emit({"status": f"{verb} {l['digest']}"})
            existing.add(l["digest"])
        config["rootfs"] = {"type": "layers", "diff_ids": [l["digest"] for l in layers]}
        config_bytes = gojson(config).encode()
        cdigest, _ = store.write_blob(config_bytes)
        manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
                    "config": {"mediaType": MT_CONFIG, "digest": cdigest, "size": len(config_bytes)}, "layers": layers}
        emit({"status": "writing manifest"})
        store.write_manifest(name, gojson(manifest).encode())
        emit({"status": "success"})

    def api_blob_head(self, param):
        if not DIGEST_RE.match(param):
            raise ApiError(400, "invalid digest format")
        if not self.server.store.has_blob("sha256:" + param[7:].lower()):
            raise ApiError(404, f"blob {goquote(param)} not found")
        self.reply(200, b"")

    def api_blob_post(self, param):
        m = DIGEST_RE.match(param)
        store = self.server.store
        if not m or store.has_blob("sha256:" + m.group(1).lower()):
            for _ in self.iter_body():  # drained and discarded (closing with unread data would reset)
                pass
            if not m:
                raise ApiError(400, "invalid digest format")
            return self.reply(200, b"")
        tmp = os.path.join(store.blobs, f"sha256-{random.randrange(10**9):09d}")
        h = hashlib.sha256()
        try:
            with open(tmp, "wb") as f:
                for data in self.iter_body():
                    h.update(data)
                    f.write(data)
            os.chmod(tmp, 0o644)
            got, want = "sha256:" + h.hexdigest(), "sha256:" + m.group(1).lower()
            if got != want:
                raise ApiError(400, f"digest mismatch, expected {goquote(param)}, got {goquote(got)}")
            os.replace(tmp, store.blob_path(want))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        self.reply(201, b"")

    def _run_target(self, body, not_found):
        given, name = self.model_name(body)
        m = self.server.store.model(name)
        if m is None:
            raise ApiError(404, not_found.format(given))
        return given, name, m

    def _infer(self, body, kind):
        """generate/chat: load, unload, or a canned reply (§1.11)."""
        given, name, m = self._run_target(body, "model '{}' not found")
        keep = self.keep_alive(body)
        if kind == "chat":
            msgs = body.get("messages")
            if msgs is not None and not isinstance(msgs, list):
                raise ApiError(400, "json: cannot unmarshal into Go struct field .messages of type []api.Message")
            empty = not msgs
        else:
            empty = not self.field(body, "prompt", str, "")
        base = {"model": given, "created_at": rfc3339nano()}
        done = dict(base, **({"message": {"role": "assistant", "content": ""}} if kind == "chat" else {"response": ""}))
        done["done"] = True
        if empty and keep == 0:
            self.server.unload(name)
            return self.send_json(200, dict(done, done_reason="unload"))
        if "embedding" in m.capabilities() and "completion" not in m.capabilities():
            raise ApiError(400, f"{goquote(given)} does not support {kind}")
        self.server.load(m, keep, self.num_ctx(body))
        if empty:
            return self.send_json(200, dict(done, done_reason="load"))
        stats = {"done_reason": "stop", "total_duration": 12_000_000, "load_duration": 1_000_000,
                 "prompt_eval_count": 8, "prompt_eval_duration": 2_000_000, "eval_count": 7, "eval_duration": 9_000_000}
        if kind == "generate":
            stats["context"] = [1, 2, 3]

        def piece(text, final=False):
            d = dict(base, created_at=rfc3339nano(), done=final)
            if kind == "chat":
                d["message"] = {"role": "assistant", "content": text}
            else:
                d["response"] = text
            return dict(d, **stats) if final else d

        if body.get("stream", True) is False:
            self.send_json(200, piece(REPLY, True))
        else:
            delay = self.server.faults.get("stream_delay")
            try:
                for tok in re.findall(r"\s*\S+?(?=\s|\.$|$)|\.", REPLY):
                    self.write_line(piece(tok))
                    if delay:
                        time.sleep(delay)
                self.write_line(piece("", True))
                self.end_stream()
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.log_event("client_gone")
                raise
            self.log_event("stream_done")

    api_generate = functools.partialmethod(_infer, kind="generate")
    api_chat = functools.partialmethod(_infer, kind="chat")

    @staticmethod
    def vector(name, text, dims=8):
        raw = hashlib.sha256(f"{name.key()}\0{text}".encode()).digest()
        v = [(raw[i % 32] / 255.0) * 2 - 1 for i in range(dims)]
        norm = sum(x * x for x in v) ** 0.5 or 1.0
        return [round(x / norm, 6) for x in v]

    def api_embed(self, body):
        inp = body.get("input")
        if isinstance(inp, str):
            inputs = [inp] if inp else []
        elif isinstance(inp, list) and all(isinstance(x, str) for x in inp):
            inputs = inp
        elif inp is None:
            inputs = []
        else:
            raise ApiError(400, "invalid input type")
        given, name, m = self._run_target(body, 'model "{}" not found, try pulling it first')
        self.server.load(m, self.keep_alive(body), self.num_ctx(body))
        if not inputs:
            return self.send_json(200, {"model": given, "embeddings": []})
        dims = body.get("dimensions") if isinstance(body.get("dimensions"), int) and body["dimensions"] > 0 else 8
        self.send_json(200, {"model": given, "embeddings": [self.vector(name, t, dims) for t in inputs],
                             "total_duration": 5_000_000, "load_duration": 1_000_000,
                             "prompt_eval_count": sum(len(t.split()) for t in inputs)})

    def api_embeddings(self, body):
        given, name, m = self._run_target(body, 'model "{}" not found, try pulling it first')
        self.server.load(m, self.keep_alive(body), self.num_ctx(body))
        prompt = self.field(body, "prompt", str, "")
        self.send_json(200, {"embedding": self.vector(name, prompt) if prompt else []})


# ------------------------------------------------------------------- main --

def parse_ollama_host():
    """envconfig.Host(): [scheme://]host[:port][/path] → (host, port)."""
    s = env("OLLAMA_HOST")
    scheme, sep, hostport = s.partition("://")
    default_port = {"http": 80, "https": 443}.get(scheme, 11434) if sep else 11434
    if not sep:
        hostport = s
    hostport = hostport.split("/", 1)[0]
    m = re.fullmatch(r"\[([^\]]*)\]:([^:]*)|([^:\[\]]*):([^:]*)", hostport)
    if m:
        host, port = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
    else:
        host, port = (hostport.strip("[]") or "127.0.0.1"), str(default_port)
    try:
        port_n = int(port)
        if not 0 <= port_n <= 65535:
            raise ValueError
    except ValueError:
        slog("WARN", "invalid port, using default", source="config.go:1", port=port, default=default_port)
        port_n = default_port
    return host, port_n


def fmt_addr(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main(argv):
    if len(argv) != 2 or argv[1] not in ("serve", "start"):
        sys.stderr.write("Usage:\n  ollama_standin.py serve\n\nStart the Ollama stand-in server "
                         "(configured by OLLAMA_* and STANDIN_* environment variables).\n")
        return 2
    faults = Faults()
    host, port = parse_ollama_host()
    listen_host = host or "0.0.0.0"
    StandinServer.address_family = socket.AF_INET6 if ":" in listen_host else socket.AF_INET
    server = StandinServer((listen_host, port), Handler, bind_and_activate=False)
    try:
        server.server_bind()
        server.server_activate()
    except OSError as e:
        if isinstance(e, socket.gaierror):
            reason = f"lookup {host}: no such host"
        else:
            reason = "bind: " + os.strerror(e.errno or errno.EADDRINUSE).lower()
        sys.stderr.write(f"Error: listen tcp {fmt_addr(host, port)}: {reason}\n")
        return 1
    models_dir = env("OLLAMA_MODELS") or os.path.join(os.path.expanduser("~"), ".ollama", "models")
    store = Store(models_dir)
    server.setup_state(store, faults, env("STANDIN_REQUEST_LOG") or None)
    slog("INFO", "server config", env=f"map[OLLAMA_HOST:{fmt_addr(host, port)} OLLAMA_MODELS:{models_dir} "
         f"OLLAMA_KEEP_ALIVE:{go_duration_str(server.keep_alive)} OLLAMA_NOPRUNE:{str(server.noprune).lower()}]")
    slog("INFO", f"Ollama cloud disabled: {str(env_bool('OLLAMA_NO_CLOUD')).lower()}")
    store.startup_prune(server.noprune)
    bound = server.socket.getsockname()
    slog("INFO", f"Listening on {fmt_addr(bound[0], bound[1])} (version {VERSION})")

    def on_signal(signum, frame):
        slog("INFO", "received signal, closing server", signal=signal.Signals(signum).name)
        os._exit(0)  # immediate close: open connections and streams are cut

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    crash = faults.get("crash_after")
    if crash:
        def crash_now():
            slog("ERROR", "simulated crash (STANDIN_CRASH_AFTER)", source="standin.py:1")
            os._exit(3)
        timer = threading.Timer(crash, crash_now)
        timer.daemon = True
        timer.start()
    slog("INFO", "discovering available GPUs...", source="runner.go:1")
    delay = faults.get("startup_delay")
    if delay:
        time.sleep(delay)
    slog("INFO", "inference compute", source="types.go:1", id="cpu", library="cpu", name="cpu",
         total="62.0 GiB", available="60.0 GiB")
    slog("INFO", "vram-based default context", source="routes.go:1", total_vram="0 B",
         default_num_ctx=server.default_ctx)
    server.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
