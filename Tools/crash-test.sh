#!/usr/bin/env bash
# Kills an importing `engram` with SIGKILL at random moments, TRIALS times (default 100), and
# checks after each kill that the database opens, `engram check` passes and every
# acknowledged record is intact. Ends with: lost acknowledged: 0, mismatches: 0, trials: N
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product engram >&2
swift build -c release --product engram-crashtest >&2
exec "$(swift build -c release --show-bin-path)/engram-crashtest" --trials "${1:-100}" "${@:2}"
