#!/usr/bin/env bash
# Installs what the tests need beyond the build: PostgreSQL 15 and its wal2json plugin (the
# change-log tests start a throwaway cluster of their own on a loopback port), if missing.
# Needs root (or sudo) only when something must be installed.
set -euo pipefail
packages=(postgresql-15 postgresql-15-wal2json)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "engram tests: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
