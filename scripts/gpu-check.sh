#!/usr/bin/env bash
# GPU check, for a machine with NVIDIA GPUs (not part of `cargo test`, which
# must pass without one): NVML inventory, and `gpus:` → CUDA_VISIBLE_DEVICES
# by UUID (an index in the file is turned into the device's UUID), `[]` → -1;
# inventory fields (`gpus --json`) and telemetry (`status --json` shows the
# pinned service's GPU memory).
# Usage: scripts/gpu-check.sh [path/to/facerunner]   (default: target/release/facerunner)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/release/facerunner}")"
out="${OUT:-$(mktemp -d)}"
nvidia-smi -L || echo "(no nvidia-smi)"
"$bin" gpus
"$bin" gpus --json > "$out/gpus.json"
# Inventory: every GPU has the documented fields and real memory numbers,
# and the file reads back through --gpus-from.
python3 - "$out/gpus.json" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1]))
gpus = inv["gpus"]
assert gpus, f"no GPU in the inventory: {inv.get('unavailable')}"
assert inv["source"] in ("nvml", "sysfs"), inv["source"]
for g in gpus:
    for k in ("index", "uuid", "name", "vendor", "memory_total_bytes", "memory_used_bytes"):
        assert k in g, f"GPU {g.get('index')} lacks {k}: {g}"
    assert g["memory_total_bytes"] > 0, g
    assert g["memory_used_bytes"] <= g["memory_total_bytes"], g
    if g["vendor"] == "nvidia":
        assert g["uuid"].startswith(("GPU-", "MIG-")), g
        assert "utilization_percent" in g and "temperature_c" in g, f"NVML readings missing: {g}"
print(f"INVENTORY OK: {len(gpus)} GPU(s)")
PY
"$bin" --gpus-from "$out/gpus.json" gpus --json > "$out/gpus-again.json"
python3 -c "import json; a=json.load(open('$out/gpus.json')); b=json.load(open('$out/gpus-again.json')); assert a['gpus']==b['gpus'], 'round trip differs'; print('ROUND TRIP OK')"
export FACERUNNER_HOME="$(mktemp -d)"
dir="$(mktemp -d)"
standin="$PWD/tests/support/ollama_standin.py"
cat > "$dir/facerunner.yaml" <<YAML
version: 1
name: gpucheck
gpus:
  first: { index: 0 }
services:
  gpu:
    kind: ollama
    port: 11777
    gpus: [first]
    binary: $standin
    models_dir: $dir/models-gpu
  cpu:
    kind: ollama
    port: 11778
    gpus: []
    binary: $standin
    models_dir: $dir/models-cpu
YAML
"$bin" -f "$dir/facerunner.yaml" up
env_of() {
  local pid
  pid=$("$bin" -f "$dir/facerunner.yaml" status --json | python3 -c "import json,sys; print([s for s in json.load(sys.stdin)['services'] if s['name']=='$1'][0]['state']['pid'])")
  tr '\0' '\n' < "/proc/$pid/environ" | grep '^CUDA_VISIBLE_DEVICES=' || echo "CUDA_VISIBLE_DEVICES unset"
}
gpu_env=$(env_of gpu); cpu_env=$(env_of cpu)
# Telemetry: the pinned service shows GPU 0 with its memory; the CPU one none.
"$bin" -f "$dir/facerunner.yaml" status
"$bin" -f "$dir/facerunner.yaml" status --json > "$out/status.json"
telemetry=ok
python3 - "$out/status.json" <<'PY' || telemetry=failed
import json, sys
svcs = {s["name"]: s for s in json.load(open(sys.argv[1]))["services"]}
g = svcs["gpu"]["gpus"]
assert len(g) == 1 and g[0]["index"] == 0, f"gpu service's GPUs: {g}"
assert g[0]["memory_total_bytes"] > 0 and "memory_used_bytes" in g[0], g
assert svcs["cpu"]["gpus"] == [], f"cpu service's GPUs: {svcs['cpu']['gpus']}"
print("TELEMETRY OK:", g[0])
PY
"$bin" -f "$dir/facerunner.yaml" down
uuid=$(python3 -c "import json; g=json.load(open('$out/gpus.json'))['gpus']; print(g[0]['uuid'] if g else '')")
echo "gpu service: $gpu_env (NVML index 0 is $uuid)"
echo "cpu service: $cpu_env"
[ -n "$uuid" ] && [ "$gpu_env" = "CUDA_VISIBLE_DEVICES=$uuid" ] && [ "$cpu_env" = "CUDA_VISIBLE_DEVICES=-1" ] \
  && [ "$telemetry" = ok ] \
  && echo "GPU CHECK PASSED" || { echo "GPU CHECK FAILED"; exit 1; }

# replicas: per-gpu with no `gpus:` — one instance per GPU of this machine,
# each pinned to its own UUID, on consecutive ports.
rdir="$(mktemp -d)"
cat > "$rdir/facerunner.yaml" <<YAML
version: 1
name: gpucheck-replicas
services:
  llm:
    kind: ollama
    port: 11790
    replicas: per-gpu
    binary: $standin
    models_dir: $rdir/models
YAML
"$bin" -f "$rdir/facerunner.yaml" up
count=$(python3 -c "import json; print(len(json.load(open('$out/gpus.json'))['gpus']))")
replicas_ok=1
for i in $(seq 0 $((count - 1))); do
  pid=$("$bin" -f "$rdir/facerunner.yaml" status --json | python3 -c "import json,sys; print([s for s in json.load(sys.stdin)['services'] if s['name']=='llm-$i'][0]['state']['pid'])")
  want=$(python3 -c "import json; g=sorted(json.load(open('$out/gpus.json'))['gpus'], key=lambda g: g['index']); print(g[$i]['uuid'])")
  got=$(tr '\0' '\n' < "/proc/$pid/environ" | grep '^CUDA_VISIBLE_DEVICES=' || true)
  host=$(tr '\0' '\n' < "/proc/$pid/environ" | grep '^OLLAMA_HOST=' || true)
  echo "llm-$i: $got $host (want $want, port $((11790 + i)))"
  [ "$got" = "CUDA_VISIBLE_DEVICES=$want" ] && [ "$host" = "OLLAMA_HOST=127.0.0.1:$((11790 + i))" ] || replicas_ok=0
done
"$bin" -f "$rdir/facerunner.yaml" down
[ "$count" -ge 1 ] && [ "$replicas_ok" = 1 ] && echo "REPLICAS CHECK PASSED" || { echo "REPLICAS CHECK FAILED"; exit 1; }
