#!/usr/bin/env bash
# `ask` end to end on the sample data with SmolLM2-135M: retrieval, time to first token,
# prefill, decode rate and total, with the engine's state cold and warm, and an answer-cache hit.
#   Benchmarks/ask-bench.sh              # 3 rounds of 4 questions, up to 32 tokens, 2 threads
#   ROUNDS=5 Benchmarks/ask-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product engram-bench-ask >&2
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $(swift build -c release --show-bin-path)/engram-bench-ask --rounds ${ROUNDS:-3}"
"$(swift build -c release --show-bin-path)/engram-bench-ask" --rounds "${ROUNDS:-3}"
