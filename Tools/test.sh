#!/usr/bin/env bash
# Installs what the tests need (native libraries, model files) and runs every test.
# Tests run in release mode: the numeric code (embedder, GLM engine) is far too slow
# unoptimised. Set ENGRAM_TEST_CONFIG=debug to run them unoptimised anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
# PostgreSQL 15 and wal2json: the change-log tests start a throwaway cluster of their own.
Tools/install-deps.sh postgresql-15 postgresql-15-wal2json openssl
# grpcio: a stock gRPC client for the test of engramd's gRPC listener.
python3 -c "import grpc" 2>/dev/null || python3 -m pip install --quiet grpcio \
  || python3 -m pip install --quiet --break-system-packages grpcio
Tools/setup-models.sh
config="${ENGRAM_TEST_CONFIG:-release}"
start=$(date +%s)
swift build -c "$config" --build-tests
set +e
# Serial: the numeric kernels use all cores themselves, and tests that share the two
# cooperative threads would starve each other.
swift test -c "$config" --skip-build --no-parallel
status=$?
# The same model and kernel tests again on the portable kernels (SSE2 on x86-64), the variant
# a CPU without AVX2 runs, which this machine's CPU would otherwise never choose.
echo "== GLM and embedder tests on the portable kernels (ENGRAM_SIMD=portable)" >&2
ENGRAM_SIMD=portable swift test -c "$config" --skip-build --no-parallel \
  --filter 'EngramGLMTests|EngramEmbedTests' || status=1
# The Python client against a real engramd.
echo "== Tools/python: engram_client.py against engramd" >&2
ENGRAM_BIN="$(swift build -c "$config" --show-bin-path)" python3 -m unittest discover -s Tools/python -v || status=1
# A package that depends on Engram through a versioned file:// URL builds (SwiftPM refuses
# unsafe build flags there).
Tools/check-consumer.sh || status=1
set -e
echo "engram tests: $(( $(date +%s) - start )) s (build + run, $config)" >&2
exit "$status"
