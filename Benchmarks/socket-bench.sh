#!/usr/bin/env bash
# The socket API under load: Memory/Query from 1, 8 and 64 connections to engramd on a Unix
# socket, beside the same queries from two tasks in process, and Upsert in batches; RSS.
#   Benchmarks/socket-bench.sh [COUNT] [SECONDS] [ROUNDS]   (default 100000 memories, 5 s each,
#   3 rounds of the in-process and 8-connection pair; the median pair's ratio is the figure)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product engramd >&2
swift build -c release --product engram-bench-socket >&2
"$(swift build -c release --show-bin-path)/engram-bench-socket" "$@"
