#!/usr/bin/env bash
# Engram's main job on the sample data: build a memory database from a journal of text
# notes (embedded on the CPU), then ask it questions by meaning and words, by time and by
# filters, and have the local language model answer one from what it finds.
set -euo pipefail
cd "$(dirname "$0")/.."
engram="$(swift build -c release --show-bin-path)/engram"
db="${ENGRAM_DEMO_DB:-$(mktemp -d)/demo.db}"
now="2026-11-23T12:00:00Z"   # fixed, so the demo's answers are reproducible

run() { echo; echo "\$ engram $*"; "$engram" "$@"; }

run init --db "$db" --half-life 90d
run import --db "$db" Data/sample/memories.jsonl
run stats --db "$db"
run query --db "$db" --k 3 --now "$now" "what database did we pick for billing?"
run query --db "$db" --k 3 --now "$now" --ns personal "trips abroad"
echo
echo "# Incidents by meaning alone, then preferring recent ones (w_time = 0.3, half-life 180 days):"
run query --db "$db" --k 3 --now "$now" --tag incident "an outage that affected customers"
run query --db "$db" --k 3 --now "$now" --tag incident --w-time 0.3 --half-life 180d "an outage that affected customers"
run query --db "$db" --k 3 --now "$now" --as-of 2025-06-30T00:00:00Z --tag decision "pricing decisions"
echo
echo "# By words as well as meaning (hybrid, the default for a text): a version number found as written,"
echo "# then why each result came: its rank in the vector and the text lists, and each term's BM25 share:"
run query --db "$db" --k 3 --now "$now" --mode text "PostgreSQL 16"
run query --db "$db" --k 3 --now "$now" --explain "which postgres version is the ledger on?"
run check --db "$db"
echo
echo "# Answered by the local language model (SmolLM2-135M) from the memories it retrieved, with its sources:"
run ask --db "$db" --now "$now" --temperature 0 "Which database did we choose for the billing ledger, and why?"
echo
echo "# Following another database: a PostgreSQL change log (wal2json) of devices, faults and repairs,"
echo "# applied exactly once into its own database, its foreign keys becoming a graph in time:"
maint="$(dirname "$db")/maint.db"
run init --db "$maint"
cat Data/ingest/tables.toml >> "$maint/engram.toml"
run watch --db "$maint" Data/ingest/wal2json-v2.jsonl
run watch --db "$maint" Data/ingest/wal2json-v2.jsonl
run query --db "$maint" --k 2 --ns faults "overheating bearing"
run graph entity --db "$maint" --depth 2 devices:1 --as-of 2026-05-29T02:00:00Z
run graph entity --db "$maint" --depth 2 devices:1
echo
echo "demo database: $db"
