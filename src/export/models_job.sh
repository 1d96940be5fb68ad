#!/bin/sh
# FaceRunner's model job: waits for each Ollama server in $OLLAMA_URLS, then
# pulls, creates and copies the models the project file declares, through
# Ollama's HTTP API. Idempotent: a model the server already has is left
# alone, so a second run sends no pull, create or copy.
#
# Reads, from $FACERUNNER_MODELS (default /facerunner, the ConfigMap):
#   pull    one model name a line
#   create  `NAME FILE` a line; FILE holds the /api/create request (JSON)
#   copy    `SOURCE DESTINATION` a line (aliases)
# POSIX sh and curl only (the curlimages/curl image has both).
set -eu
dir="${FACERUNNER_MODELS:-/facerunner}"
tries="${FACERUNNER_WAIT_TRIES:-300}"
[ -n "${OLLAMA_URLS:-}" ] || { echo "OLLAMA_URLS is empty" >&2; exit 1; }

api() { # METHOD URL PATH [curl args...]: fail on HTTP errors, show the body
  m="$1"; u="$2"; p="$3"; shift 3
  curl -sS --fail-with-body -X "$m" -H 'Content-Type: application/json' "$@" "$u$p"
}

has() { # URL NAME: does the server have the model?
  curl -s -o /dev/null --max-time 30 -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -d "{\"model\":\"$2\"}" "$1/api/show" | grep -q '^200$'
}

for url in $OLLAMA_URLS; do
  n=0
  until curl -sf -o /dev/null --max-time 5 "$url/api/version"; do
    n=$((n + 1))
    if [ "$n" -ge "$tries" ]; then
      echo "$url did not answer /api/version after $tries tries" >&2
      exit 1
    fi
    sleep 2
  done
  if [ -f "$dir/pull" ]; then
    while read -r name; do
      [ -n "$name" ] || continue
      if has "$url" "$name"; then echo "$url: $name: present"; continue; fi
      echo "$url: $name: pulling"
      api POST "$url" /api/pull -d "{\"model\":\"$name\",\"stream\":false}" >/dev/null
    done < "$dir/pull"
  fi
  if [ -f "$dir/create" ]; then
    while read -r name file; do
      [ -n "$name" ] || continue
      if has "$url" "$name"; then echo "$url: $name: present"; continue; fi
      echo "$url: $name: creating"
      api POST "$url" /api/create --data-binary "@$dir/$file" >/dev/null
    done < "$dir/create"
  fi
  if [ -f "$dir/copy" ]; then
    while read -r src dst; do
      [ -n "$src" ] || continue
      if has "$url" "$dst"; then echo "$url: $dst: present"; continue; fi
      echo "$url: $dst: copying from $src"
      api POST "$url" /api/copy -d "{\"source\":\"$src\",\"destination\":\"$dst\"}" >/dev/null
    done < "$dir/copy"
  fi
done
echo "models ready"
