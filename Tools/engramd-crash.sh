#!/usr/bin/env bash
# Kills `engramd` with SIGKILL at random moments while it applies a long change log, restarts
# it until it has caught up, and checks that the final store equals that of an uninterrupted
# `engram watch` of the same log. The tests run 3 trials (EngramdTests); this runs as many as
# asked.   Usage: Tools/engramd-crash.sh [TRIALS] [EVENTS] [SEED]   (default 100 4000 random)
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-100}"; events="${2:-4000}"; seed="${3:-$RANDOM}"
echo "engramd crash test: $trials trials, $events events, seed $seed"
swift build -c release --product engram --product engramd >&2
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
trap 'pkill -9 -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$events" "$seed" > "$work/all.jsonl" <<'PY'
import json, random, sys
n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
for seq in range(1, n + 1):
    mid = "m%d" % rng.randrange(max(1, n // 12))
    if seq % 7 == 0:
        print(json.dumps({"seq": seq, "id": mid, "op": "delete"}))
    else:
        print(json.dumps({"seq": seq, "id": mid, "text": "version %d of %s" % (seq, mid),
                          "vector": [round(rng.uniform(-1, 1), 3) for _ in range(4)], "meta": {"seq": seq}}))
PY
database() { # DIR BATCH
  "$bin/engram" init --db "$1" --dim 4 >/dev/null
  printf '\n[ingest]\nbatch_changes = %s\n' "$2" >> "$1/engram.toml"
}
contents() { "$bin/engram" export --db "$1" | python3 -c '
import json, sys
print(json.dumps(sorted((r["id"], r["text"], r["meta"], r["vector"]) for r in map(json.loads, sys.stdin))))'; }
caught_up() { "$bin/engram" ingest status --db "$1" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if len(s) == 1 and s[0].get("lagBytes") == 0 else 1)'; }

database "$work/reference" 1000
"$bin/engram" watch --db "$work/reference" "$work/all.jsonl" >/dev/null
expected="$(contents "$work/reference")"
RANDOM=$seed
failed=0
for trial in $(seq 1 "$trials"); do
  db="$work/db-$trial"; logs="$work/logs-$trial"
  mkdir -p "$logs"; cp "$work/all.jsonl" "$logs/log.jsonl"
  database "$db" 25
  for kill_no in 1 2 3 4; do
    "$bin/engramd" --db "$db" --watch "$logs" --poll-ms 20 2>/dev/null &
    pid=$!
    sleep "0.$(printf '%03d' $(( 50 + RANDOM % 400 )))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  "$bin/engramd" --db "$db" --watch "$logs" --poll-ms 20 2>/dev/null &
  pid=$!
  for _ in $(seq 1 600); do caught_up "$db" && break; sleep 0.1; done
  kill -TERM "$pid"; wait "$pid" || { echo "trial $trial: engramd exited $?"; failed=$((failed + 1)); continue; }
  if [ "$(contents "$db")" != "$expected" ]; then
    echo "trial $trial: the store differs from an uninterrupted run"
    failed=$((failed + 1))
  fi
  rm -rf "$db" "$logs"
done
echo "engramd crash trials: $trials, failed: $failed (seed $seed)"
[ "$failed" -eq 0 ]
