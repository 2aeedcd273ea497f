#!/usr/bin/env bash
# Proves that another package can depend on Engram by version, as a user would:
# copies the committed HEAD into a temporary bare repository, tags it 99.0.0 there (never in
# this repository), writes a tiny consumer package that depends on the `Engram` library
# product with `from: "99.0.0"`, builds it (debug) and runs it: it creates a database in a
# temporary directory, writes and queries one vector, and closes it.
#
# SwiftPM refuses to build a versioned dependency whose product needs a target with
# `unsafeFlags`, so this fails if one creeps into the `Engram` product's closure.
#
# Usage: Tools/check-consumer.sh [swift build options, e.g. -j 1]
# Environment: ENGRAM_CHECK_REV  the commit to check (default HEAD; uncommitted changes are
#              never included).
# Everything temporary is removed on exit. Exits non-zero with a message on failure.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
rev="${ENGRAM_CHECK_REV:-HEAD}"
tag="99.0.0" # far above any real release; exists only in the temporary repository
start=$(date +%s)

fail() {
    echo "check-consumer: FAILED: $*" >&2
    exit 1
}

work="$(mktemp -d "${TMPDIR:-/tmp}/engram-consumer.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# SwiftPM leaves lock files and empty directories in $TMPDIR: keep them in $work too.
mkdir "$work/tmp"

commit="$(git -C "$repo" rev-parse --verify --quiet "$rev^{commit}")" || fail "'$rev' is not a commit in $repo"
if [ "$rev" = HEAD ] && [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
    echo "check-consumer: note: uncommitted changes are not part of the check" >&2
fi

# 1. A bare repository holding only that commit's history, tagged as a release.
git init --quiet --bare "$work/engram.git"
git -C "$repo" push --quiet --no-verify "$work/engram.git" "$commit:refs/heads/main" ||
    fail "cannot copy $commit into $work/engram.git"
git -C "$work/engram.git" symbolic-ref HEAD refs/heads/main
git -C "$work/engram.git" tag "$tag" "$commit"

# 2. The consumer package.
mkdir -p "$work/consumer/Sources/EngramConsumer"
cat > "$work/consumer/Package.swift" <<EOF
// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "EngramConsumer",
    dependencies: [
        .package(url: "file://$work/engram.git", from: "$tag"),
    ],
    targets: [
        .executableTarget(
            name: "EngramConsumer",
            dependencies: [.product(name: "Engram", package: "engram")]
        ),
    ]
)
EOF
# Keep this small: it only shows that the library links and runs from a consumer.
cat > "$work/consumer/Sources/EngramConsumer/main.swift" <<'EOF'
import Engram
import Foundation

let directory = URL(fileURLWithPath: CommandLine.arguments[1])
let database = try EngramDatabase.create(at: directory, settings: StoreSettings(dimension: 4))
_ = try await database.upsert(UpsertRequest(memories: [MemoryInput(id: "m1", text: "hello", vector: [1, 0, 0, 0])]))
let hit = try await database.query(QueryRequest(vector: [1, 0, 0, 0], k: 1)).results.first
try database.close()
print("consumer: created a database, top hit \(hit?.id ?? "none")")
EOF

# 3. Build and run. SwiftPM's caches and temporary files stay inside $work.
consumer_swift() {
    (cd "$work/consumer" && TMPDIR="$work/tmp" swift build --disable-dependency-cache --manifest-cache local "$@")
}
log="$work/build.log"
echo "check-consumer: building a consumer of Engram $tag (commit ${commit:0:12}) ..." >&2
if ! consumer_swift "$@" > "$log" 2>&1; then
    tail -n 40 "$log" >&2
    grep -q "unsafe build flags" "$log" &&
        echo "check-consumer: a target in the Engram product's closure uses unsafeFlags" >&2
    fail "the consumer package does not build (last lines of the build log above)"
fi
grep -Eq "\"version\" *: *\"$tag\"" "$work/consumer/Package.resolved" ||
    fail "the consumer did not resolve Engram at version $tag"
tail -n 1 "$log" >&2

bin="$(consumer_swift "$@" --show-bin-path)"
output="$("$bin/EngramConsumer" "$work/db" 2> "$work/run.log")" || {
    cat "$work/run.log" >&2
    fail "the consumer executable failed"
}
echo "$output"
[ "$output" = "consumer: created a database, top hit m1" ] || fail "unexpected output from the consumer"
echo "check-consumer: OK: a package depending on Engram from: \"$tag\" builds and runs ($(( $(date +%s) - start )) s)" >&2
