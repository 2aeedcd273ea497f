#!/usr/bin/env bash
# The full-text and hybrid retrieval benchmark at 100,000 short texts with pre-computed
# vectors (no embedding): engram-bench-text (import with and without the texts, index size,
# text / vector / hybrid query latency), again with context windows (threads of 10 memories,
# `context_window = 2`), then `engram import` of the same memories as JSON
# Lines, with their texts and without. Prints the CPU model and OpenBLAS's core type first.
#   Benchmarks/text-bench.sh            # COUNT=100000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
count="${COUNT:-100000}"
work="$(mktemp -d "${TMPDIR:-/tmp}/engram-text-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
swift build -c release --product engram --product engram-bench-text >&2
bin="$(swift build -c release --show-bin-path)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $bin/engram-bench-text --count $count --queries 1000"
"$bin/engram-bench-text" --count "$count" --queries 1000
echo "== $bin/engram-bench-text --count $count --queries 1000 --context-window 2"
"$bin/engram-bench-text" --count "$count" --queries 1000 --context-window 2
"$bin/engram-bench-text" --count "$count" --jsonl "$work"
for round in 1 2; do
    for file in vector-only with-text; do
        rm -rf "$work/db"
        "$bin/engram" init --db "$work/db" >/dev/null
        echo "engram import of $file.jsonl ($(du -h "$work/$file.jsonl" | cut -f1)), round $round:"
        "$bin/engram" import --db "$work/db" --no-progress "$work/$file.jsonl" 2>&1
    done
done
