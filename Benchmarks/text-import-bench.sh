#!/usr/bin/env bash
# Text import: 10,000 generated ~20-word sentences through `engram import` (each embedded by
# the native MiniLM, then stored durably). Prints the import summary, which splits the time
# between embedding and storage.   Usage: Benchmarks/text-import-bench.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
Tools/setup-models.sh
swift build -c release --product engram >&2
engram="$(swift build -c release --show-bin-path)/engram"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$count" > "$work/sentences.jsonl" <<'PY'
import json, random, sys
random.seed(7)
subjects = ["the team", "our customer", "a new engineer", "the billing service", "my sister", "the database",
            "the nightly job", "a reviewer", "the search cluster", "the manager", "an old friend", "the API"]
verbs = ["reported", "fixed", "postponed", "discussed", "migrated", "celebrated", "measured", "rewrote",
         "questioned", "approved", "scheduled", "documented"]
objects = ["the outage from last week", "a slow query on the ledger", "the plans for the holiday trip",
           "an expensive cloud bill", "the onboarding flow for new users", "a flaky integration test",
           "the pricing change for next quarter", "a memory leak in the worker", "the offsite in Lisbon",
           "a broken dashboard", "the contract renewal", "the search relevance results"]
tails = ["before the deadline", "after a long meeting", "with help from another team", "on a rainy Tuesday",
         "without telling anyone", "in record time", "for the third time this month", "late in the evening"]
for i in range(int(sys.argv[1])):
    text = f"{random.choice(subjects).capitalize()} {random.choice(verbs)} {random.choice(objects)} {random.choice(tails)} and {random.choice(subjects)} {random.choice(verbs)} {random.choice(objects)}."
    print(json.dumps({"id": f"s{i}", "text": text, "time": 1_700_000_000 + i * 60}))
PY
echo "engram import of $count sentences ($(wc -c < "$work/sentences.jsonl") bytes):"
"$engram" init --db "$work/db" > /dev/null
"$engram" import --db "$work/db" "$work/sentences.jsonl"
