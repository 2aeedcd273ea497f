#!/usr/bin/env bash
# Change-log ingestion: a generated Debezium log of readings (inserts, then updates and deletes
# of earlier rows) through `engram watch`, with a vector column (pgvector text form, DIM
# dimensions, nothing embedded) and, on a smaller log, with the text embedded by MiniLM.
# Prints events/s over the command's wall time and up to the write of the last change, and
# the peak RSS.
#   Benchmarks/ingest-bench.sh [EVENTS] [DIM] [TEXT_EVENTS]     (default 100000 384 2000)
# ENGRAM_BIN=path/to/engram runs that binary instead of building this checkout's (for
# alternating runs of two builds).
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-100000}"; dim="${2:-384}"; text_events="${3:-2000}"
Tools/setup-models.sh >/dev/null
if [ -n "${ENGRAM_BIN:-}" ]; then
  engram="$ENGRAM_BIN"
else
  swift build -c release --product engram >&2
  engram="$(swift build -c release --show-bin-path)/engram"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
generate() { # EVENTS DIM (0: no vector column) > log
python3 - "$1" "$2" <<'PY'
import json, random, sys
random.seed(11)
n, dim = int(sys.argv[1]), int(sys.argv[2])
sensors = ["PUMP-%d" % i for i in range(200)]
rows = {}
for i in range(n):
    lsn = 0x1000000 + i * 64
    r = random.random()
    if rows and r < 0.15:
        key = random.choice(list(rows)); op = "u"
    elif rows and r < 0.20:
        key = random.choice(list(rows)); op = "d"
    else:
        key = i; op = "c"
    after = None
    if op != "d":
        after = {"id": key, "sensor": random.choice(sensors), "reading": round(random.uniform(0, 100), 2),
                 "note": "pressure %s after the %s check" % (random.choice(["rose", "fell", "held"]), random.choice(["morning", "evening"])),
                 "taken_at": 1780000000000 + i * 1000}
        if dim: after["embedding"] = "[" + ",".join("%.4f" % random.uniform(-1, 1) for _ in range(dim)) + "]"
    before = rows.get(key) if op != "c" else None
    if op == "d": rows.pop(key, None)
    else: rows[key] = {"id": key}
    print(json.dumps({"before": before, "after": after, "op": op, "ts_ms": 1780000000000 + i * 1000,
                      "source": {"connector": "postgresql", "db": "plant", "schema": "public", "table": "readings",
                                 "txId": 1000 + i, "lsn": lsn, "ts_ms": 1780000000000 + i * 1000}}, separators=(",", ":")))
PY
}
run() { # NAME DIM LOG VECTOR-COLUMN(yes|no)
  local db="$work/$1.db"
  "$engram" init --db "$db" --dim "$2" >/dev/null
  cat >> "$db/engram.toml" <<TOML

[ingest.tables.readings]
text = "{sensor}: {note} ({reading})"
time = "taken_at"
meta = ["sensor", "reading"]
$( [ "$4" = yes ] && echo 'vector = "embedding"' )
TOML
  echo "== $engram watch --db $1.db $(basename "$3")   ($(wc -l < "$3") events, $(du -h "$3" | cut -f1))"
  # The generator's ~300 MB are written back to disk first, not while the log is applied.
  sync
  local started; started="$(date +%s.%N)"
  /usr/bin/time -f "%e s wall, peak RSS %M KB" "$engram" watch --db "$db" --json "$3" > "$work/$1.json" 2> "$work/$1.time"
  "$engram" ingest status --db "$db" --json > "$work/$1.status"
  python3 - "$work/$1.json" "$work/$1.time" "$work/$1.status" "$started" <<'PY'
import datetime, json, sys
r = json.load(open(sys.argv[1]))["sources"][0]
t = open(sys.argv[2]).read().strip().splitlines()[-1]
secs = float(t.split()[0])
events = r["applied"] + r["skipped"]
print("applied %d, skipped %d, dead letters %d; %s; %.0f events/s" % (r["applied"], r["skipped"], r["deadLetters"], t, events / secs))
# The source's updatedAt is the time of the write of its last batch (to the millisecond); an
# empty log leaves no source.
sources = json.load(open(sys.argv[3]))
if events and sources:
    last = datetime.datetime.fromisoformat(sources[0]["updatedAt"].replace("Z", "+00:00")).timestamp()
    applied = last - float(sys.argv[4])
    print("last change written after %.2f s (%.0f events/s); closing (snapshot, flush, text merges) took the other %.2f s"
          % (applied, events / applied, secs - applied))
PY
  # Close leaves a growth of the IVF lists under way to the next writable open (its close
  # finishes it): timed here, so that the work moved out of the figures above shows.
  if [ -s "$3" ]; then
    : > "$work/empty.jsonl"
    /usr/bin/time -f "%e" "$engram" watch --db "$db" --json "$work/empty.jsonl" > /dev/null 2> "$work/$1.next"
    echo "the next writable open (an empty log; it finishes an index growth left by close): $(tail -1 "$work/$1.next") s wall; $("$engram" stats --db "$db" | grep -m1 'index:' | sed 's/^index: *//')"
  fi
}
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
generate "$events" "$dim" > "$work/vector.jsonl"
run vector "$dim" "$work/vector.jsonl" yes
generate "$text_events" 0 > "$work/text.jsonl"
run text 384 "$work/text.jsonl" no
