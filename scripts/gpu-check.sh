#!/usr/bin/env bash
# GPU check, for a machine with NVIDIA GPUs (not part of `cargo test`, which
# must pass without one): NVML inventory, and `gpus:` → CUDA_VISIBLE_DEVICES
# by UUID (an index in the file is turned into the device's UUID), `[]` → -1.
# Usage: scripts/gpu-check.sh [path/to/facerunner]   (default: target/release/facerunner)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/release/facerunner}")"
out="${OUT:-$(mktemp -d)}"
nvidia-smi -L || echo "(no nvidia-smi)"
"$bin" gpus
"$bin" gpus --json > "$out/gpus.json"
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
"$bin" -f "$dir/facerunner.yaml" down
uuid=$(python3 -c "import json; g=json.load(open('$out/gpus.json'))['gpus']; print(g[0]['uuid'] if g else '')")
echo "gpu service: $gpu_env (NVML index 0 is $uuid)"
echo "cpu service: $cpu_env"
[ -n "$uuid" ] && [ "$gpu_env" = "CUDA_VISIBLE_DEVICES=$uuid" ] && [ "$cpu_env" = "CUDA_VISIBLE_DEVICES=-1" ] \
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
