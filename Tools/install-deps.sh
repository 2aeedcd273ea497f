#!/usr/bin/env bash
# Installs the Debian packages Engram builds against (FAISS, RocksDB, OpenBLAS, simdjson, fast_float, Snowball stemmers) and pip,
# and any packages named as arguments (Tools/test.sh adds what the tests need), if they are
# missing. Needs root (or sudo) only when something must be installed.
set -euo pipefail
packages=(libfaiss-dev librocksdb-dev libopenblas-dev libsimdjson-dev libfast-float-dev libstemmer-dev "$@")
# python3 -m pip may come from elsewhere (e.g. pyenv); only install python3-pip when absent.
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3 python3-pip)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "engram setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v swift >/dev/null 2>&1; then
  for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
    [ -x "$candidate/swift" ] && { echo "engram setup: add $candidate to PATH" >&2; break; }
  done
  echo "engram setup: the Swift 6 toolchain is required (swift not found on PATH)" >&2
  exit 1
fi
