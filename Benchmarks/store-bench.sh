#!/usr/bin/env bash
# The store benchmark: in-process figures (engram-bench-store: import, queries with their
# recall, filtered and time-decayed queries, 1 and 2 query threads, latency during writes and
# during a rebuild) and whole command lines (engram add / query wall time, JSONL import), at
# 100,000 and 1,000,000 memories. Prints the CPU model and OpenBLAS's core type first.
#   Benchmarks/store-bench.sh            # 100k, then 1M
#   SIZES=100000 Benchmarks/store-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${SIZES:-100000 1000000}"
work="$(mktemp -d "${TMPDIR:-/tmp}/engram-store-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
swift build -c release --product engram --product engram-bench-store >&2
bin="$(swift build -c release --show-bin-path)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; OpenBLAS core: ${OPENBLAS_CORETYPE:-$(python3 -c 'import ctypes; b=ctypes.CDLL("libopenblas.so.0"); b.openblas_get_corename.restype=ctypes.c_char_p; print(b.openblas_get_corename().decode())' 2>/dev/null || echo unknown)}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wall_ms() { # command... → wall milliseconds
    local start end
    start=$(date +%s%N); "$@" >/dev/null 2>&1; end=$(date +%s%N)
    echo $(( (end - start) / 1000000 ))
}

for n in $sizes; do
    db="$work/db-$n"
    queries=1000; kinds=auto,flat,hnsw
    if [ "$n" -ge 1000000 ]; then queries=200; kinds=auto; fi
    echo
    echo "== $n memories: $bin/engram-bench-store --count $n --queries $queries --kinds $kinds --hnsw-count 20000 --keep-db $db"
    "$bin/engram-bench-store" --count "$n" --queries "$queries" --kinds "$kinds" --hnsw-count 20000 --keep-db "$db"

    vector="$(python3 -c 'import random; random.seed(1); print(",".join("%.6f" % random.gauss(0, 1) for _ in range(384)))')"
    adds=(); queries_ms=(); stats=()
    for i in 1 2 3 4 5; do
        adds+=("$(wall_ms "$bin/engram" add --db "$db" --id "cli-$i" --vector "$vector")")
        queries_ms+=("$(wall_ms "$bin/engram" query --db "$db" --vector "$vector" --k 10)")
        stats+=("$(wall_ms "$bin/engram" stats --db "$db")")
    done
    echo "command lines at $n memories (median of 5, wall): engram add --vector $(printf '%s\n' "${adds[@]}" | median) ms," \
         "engram query --vector $(printf '%s\n' "${queries_ms[@]}" | median) ms, engram stats $(printf '%s\n' "${stats[@]}" | median) ms"

    if [ "$n" -le 100000 ]; then
        "$bin/engram" export --db "$db" -o "$work/export.jsonl" 2>/dev/null
        "$bin/engram" init --db "$work/import-db" >/dev/null
        echo "JSONL import of $(wc -l < "$work/export.jsonl") records ($(du -h "$work/export.jsonl" | cut -f1)), all cores:"
        "$bin/engram" import --db "$work/import-db" --no-progress "$work/export.jsonl"
        rm -rf "$work/import-db"
        "$bin/engram" init --db "$work/import-db" >/dev/null
        echo "the same on one core (taskset -c 1):"
        taskset -c 1 "$bin/engram" import --db "$work/import-db" --no-progress "$work/export.jsonl"
        rm -rf "$work/import-db" "$work/export.jsonl"
    fi
    rm -rf "$db"
done
