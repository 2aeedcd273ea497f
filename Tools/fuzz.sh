#!/usr/bin/env bash
# Fuzzes the socket API's frame and request decoders (FuzzTarget.exercise) with libFuzzer.
#   Tools/fuzz.sh [SECONDS]     (default 300)
# Builds engram-fuzz with -sanitize=fuzzer into .build-fuzz, then runs it from the committed
# corpus (Tests/EngramServerTests/Fixtures/fuzz/corpus) for SECONDS on one core. A crash is written to Tests/EngramServerTests/Fixtures/fuzz/crashes/: fix it and
# commit it there, where FuzzRegressionTests replays it. New inputs that add coverage stay
# in .build-fuzz/corpus; copy the interesting ones into the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
swift build -c release --product engram-fuzz --build-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING >&2
fixtures=Tests/EngramServerTests/Fixtures/fuzz
mkdir -p .build-fuzz/corpus
.build-fuzz/release/engram-fuzz .build-fuzz/corpus "$fixtures/corpus" \
  -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$fixtures/crashes/" -print_final_stats=1
