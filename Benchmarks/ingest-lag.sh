#!/usr/bin/env bash
# Commit-to-queryable lag of `engramd` under a steady stream: a writer appends Engram change
# lines (4-dimensional vectors given, so nothing is embedded) to a watched log at RATE lines/s
# for SECONDS, each stamped with the moment it was written; afterwards every memory's
# `updatedAt` (the moment of the write that made it queryable) minus that stamp is its lag.
# Prints p50, p99 and the maximum.   Usage: Benchmarks/ingest-lag.sh [RATE] [SECONDS] [POLL_MS]
set -euo pipefail
cd "$(dirname "$0")/.."
rate="${1:-200}"; seconds="${2:-20}"; poll="${3:-200}"
swift build -c release --product engram --product engramd >&2
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
trap 'kill "$daemon" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/logs"; : > "$work/logs/stream.jsonl"
"$bin/engram" init --db "$work/db" --dim 4 >/dev/null
"$bin/engramd" --db "$work/db" --watch "$work/logs" --poll-ms "$poll" 2>/dev/null &
daemon=$!
sleep 1
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== engramd --poll-ms $poll, a line every $(python3 -c "print(round(1000/$rate, 2))") ms for $seconds s"
python3 - "$rate" "$seconds" "$work/logs/stream.jsonl" <<'PY'
import json, sys, time
rate, seconds, path = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
with open(path, "a", buffering=1) as f:
    start = time.time()
    n = 0
    while time.time() - start < seconds:
        n += 1
        f.write(json.dumps({"seq": n, "id": "r%d" % n, "text": "reading %d" % n, "vector": [1, 0, 0, n % 7],
                            "meta": {"appended": time.time()}}) + "\n")
        time.sleep(max(0, start + n / rate - time.time()))
PY
for _ in $(seq 1 300); do
  "$bin/engram" ingest status --db "$work/db" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s and all(x.get("lagBytes") == 0 for x in s) else 1)' && break
  sleep 0.1
done
kill -TERM "$daemon"; wait "$daemon" || true
"$bin/engram" export --db "$work/db" --no-vector | python3 -c '
import json, sys, datetime
def t(s): return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
lags = sorted((t(r["updatedAt"]) - r["meta"]["appended"]) * 1000 for r in map(json.loads, sys.stdin))
n = len(lags)
print("%d lines; lag p50 %.0f ms, p99 %.0f ms, max %.0f ms" % (n, lags[n // 2], lags[min(n - 1, int(n * 0.99))], lags[-1]))'
