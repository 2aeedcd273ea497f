#!/usr/bin/env bash
# `engram import` with the full-text index against the import of the last dense-only Engram
# (the commit before the index landed), in the same run: 100,000 memories with pre-computed
# 384-dim vectors and short texts (engram-bench-text's), as JSON Lines, synced batches of
# 1,000. The two builds alternate ROUNDS times (default 3); each import gets a fresh
# database. Prints, per import, the rate at which lines were acknowledged (the last
# `ack N` of --ack-lines) and the rate until the command exited (closing included).
#   Benchmarks/text-import-baseline.sh      # COUNT=100000 ROUNDS=3
# BASELINE_BIN=path/to/engram uses a dense-only engram built before instead of building
# the baseline commit in .build-dense-only/src.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${COUNT:-100000}"
rounds="${ROUNDS:-3}"
# The last commit before the full-text index (e12a7ff "Full-text index ...").
baseline_commit=951938e
baseline="$PWD/.build-dense-only"
work="$(mktemp -d "${TMPDIR:-/tmp}/engram-import-baseline.XXXXXX")"
trap 'rm -rf "$work"' EXIT

swift build -c release --product engram --product engram-bench-text >&2
bin="$(swift build -c release --show-bin-path)"
old="${BASELINE_BIN:-}"
if [ -z "$old" ]; then
    if [ ! -d "$baseline/src" ]; then
        git worktree add --detach "$baseline/src" "$baseline_commit" >&2
    fi
    (cd "$baseline/src" && swift build -c release --product engram >&2)
    old="$(cd "$baseline/src" && swift build -c release --show-bin-path)/engram"
fi

grep -m1 'model name' /proc/cpuinfo
"$bin/engram" init --db "$work/probe" >/dev/null && "$bin/engram" stats --db "$work/probe" | grep '^BLAS' && rm -rf "$work/probe"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin/engram-bench-text" --count "$count" --jsonl "$work" >/dev/null

# Prints "<acknowledged>/s <until exit>/s" for one import of $2 by the engram at $1.
import_rates() {
    rm -rf "$work/db"
    "$1" init --db "$work/db" --dim 384 >/dev/null
    python3 - "$1" "$work/db" "$2" <<'EOF'
import subprocess, sys, time
engram, db, file = sys.argv[1:4]
lines = sum(1 for _ in open(file, "rb"))
start = time.monotonic()
p = subprocess.Popen([engram, "import", "--db", db, "--ack-lines", "--no-progress", file],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
acked = start
for line in p.stdout:
    if line.startswith("ack "):
        acked = time.monotonic()
if p.wait() != 0:
    sys.exit(f"engram import exited with {p.returncode}")
print(f"{lines / (acked - start):.0f}/s {lines / (time.monotonic() - start):.0f}/s")
EOF
}

printf '%-5s | %-48s | %-34s | %s\n' round "dense-only $baseline_commit, with-text.jsonl (ack; exit)" \
    "now, with-text.jsonl (ack; exit)" "now, vector-only.jsonl (ack; exit)"
for round in $(seq 1 "$rounds"); do
    a=$(import_rates "$old" "$work/with-text.jsonl")
    b=$(import_rates "$bin/engram" "$work/with-text.jsonl")
    c=$(import_rates "$bin/engram" "$work/vector-only.jsonl")
    printf '%-5s | %-48s | %-34s | %s\n' "$round" "${a/ /; }" "${b/ /; }" "${c/ /; }"
done
