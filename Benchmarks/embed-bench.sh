#!/usr/bin/env bash
# Sentence-embedding benchmark: EngramEmbed (Swift, OpenBLAS) next to sentence-transformers on
# PyTorch (CPU) running the same model files, measured in the same run on the same sentences.
# Prints, for 1 and for 2 threads, sentences/s at batch 1, 8, 32, 128 and single-sentence latency
# (median of 50) for both, with the ratio; then the machine, versions and the command.
#
#   Benchmarks/embed-bench.sh            # from the repository root
#   COUNT=512 Benchmarks/embed-bench.sh  # more sentences per batch size (default 256; batch 1 uses min(COUNT, 64))
#   ROUNDS=3 Benchmarks/embed-bench.sh   # alternate the two engines 3 times, keep each one's best (default 2)
#   PACKAGE=/other/checkout Benchmarks/embed-bench.sh  # build the Swift bench from another package
#   BENCH_BIN=.build/release/engram-bench-embed Benchmarks/embed-bench.sh  # use this binary, build nothing
#   TORCH_SPEC='torch==2.13.0+cpu' Benchmarks/embed-bench.sh  # the torch to install into a new venv (see below)
#
# Thread counts: EngramEmbed runs with `--threads 1` and `--threads 2`; the Python side with
# torch.set_num_threads(1) and (2), and OMP_NUM_THREADS / MKL_NUM_THREADS / RAYON_NUM_THREADS (the
# tokenizer's pool) set to the same number for that process only. Each round runs both engines
# at both thread counts, alternating; each figure is that engine's best over the rounds at that
# thread count (the machine is shared: best-of keeps a noisy moment from favouring either side).
# The Python side calls, under torch.inference_mode(),
#   model.encode(batch, batch_size=len(batch), convert_to_numpy=True, normalize_embeddings=True)
# with the same warm-up, loop and sentence order as engram-bench-embed.
# On a busy machine (load average above the 2 cores) PyTorch's 2-thread figures collapse: its
# OpenMP threads spin waiting for a core another process holds (measured 2026-12-02, load ~5:
# batch 32 at 25 sentences/s by default, 60-75 with OMP_WAIT_POLICY=PASSIVE, which the script does
# not set); compare the 1-thread tables then. The load average is printed with the tables.
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are passed through as the environment has them (some
# processors here need them); the script neither sets nor unsets them. PyTorch uses MKL/oneDNN.
#
# The model is loaded offline (HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1) from
# Data/models/all-MiniLM-L6-v2 (Tools/setup-models.sh): sentence-transformers builds its default
# Transformer + mean pooling there (the folder has no modules.json; 1_Pooling says mean pooling
# too) and max_seq_length is taken from sentence_bert_config.json (256). Before measuring, its
# embeddings are compared with ../shared/reference/minilm_reference.json (when that file is
# there): token ids must be identical and the max abs difference <= 1e-4, else the script stops.
# Nothing is downloaded at run time apart from the first pip install.
#
# The venv: .build-embed-bench/venv (ignored by git), made with `python3 -m venv`, holding torch
# and sentence-transformers (which brings transformers, tokenizers, numpy, scipy, scikit-learn).
# Which torch: PyPI's Linux x86_64 torch wheel is the CUDA build and depends on the nvidia-*
# CUDA packages (several GB); installed with --no-deps it does not import (torch/__init__.py
# preloads libcublasLt, libcudnn, ... and raises "libcublasLt.so.*[0-9] not found"), since
# libtorch.so links libtorch_cuda.so. PyTorch's CPU-only build (torch==X+cpu: a ~190 MB wheel,
# no CUDA dependency, MKL + oneDNN) is not on pypi.org, but this workplace's machine image ships
# one in /opt/wheels, a folder pip is configured to search (find-links in /etc/pip.conf), so
# `pip install torch==X+cpu` finds it with no download (2026-12-02: torch 2.13.0+cpu; the venv
# took ~2 minutes and 1.4 GB). The script takes the newest `+cpu`
# version that pip lists for torch; if there is none it installs PyPI's `torch` with its CUDA
# dependencies (several GB; not tried here). TORCH_SPEC overrides the choice. An existing venv that
# imports torch and sentence_transformers is reused; delete it to reinstall.
#
# Both engines read the model from ENGRAM_EMBED_MODEL (default Data/models/all-MiniLM-L6-v2); the
# Swift bench runs from a private copy (.build-embed-bench/engram-bench-embed), so a rebuild
# during the run cannot mix binaries. Raw results (one JSON object per engine run, plus the
# reference check) go to .build-embed-bench/results-<UTC time>.jsonl, copied to results.jsonl.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
count="${COUNT:-256}"
rounds="${ROUNDS:-2}"
model="${ENGRAM_EMBED_MODEL:-$root/Data/models/all-MiniLM-L6-v2}"
reference="$root/../shared/reference/minilm_reference.json"
work="$root/.build-embed-bench"
mkdir -p "$work"
if [ ! -s "$model/model.safetensors" ]; then
  echo "embed-bench: no model in $model; run Tools/setup-models.sh" >&2
  exit 1
fi
command_line="$(printf '%q ' "$0" "$@")"
settings="COUNT=$count ROUNDS=$rounds"
[ -n "${PACKAGE:-}" ] && settings="$settings PACKAGE=$PACKAGE"
[ -n "${BENCH_BIN:-}" ] && settings="$settings BENCH_BIN=$BENCH_BIN"
[ -n "${TORCH_SPEC:-}" ] && settings="$settings TORCH_SPEC=$TORCH_SPEC"

if [ -n "${BENCH_BIN:-}" ]; then
  bench="$BENCH_BIN"
  if [ ! -x "$bench" ]; then
    echo "embed-bench: BENCH_BIN=$bench is not an executable" >&2
    exit 1
  fi
else
  echo "== building engram-bench-embed (release)" >&2
  package="${PACKAGE:-$root}"
  swift build --package-path "$package" -c release --product engram-bench-embed >&2
  bench="$(swift build --package-path "$package" -c release --show-bin-path)/engram-bench-embed"
fi
# Run a private copy, so that a rebuild by someone else during the run cannot mix two binaries.
cp "$bench" "$work/engram-bench-embed"
bench="$work/engram-bench-embed"

venv="$work/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, sentence_transformers" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  torch_spec="${TORCH_SPEC:-}"
  if [ -z "$torch_spec" ]; then
    cpu_version="$("$venv/bin/pip" index versions torch 2>/dev/null | sed -n 's/^Available versions: //p' \
      | tr ',' '\n' | tr -d ' ' | grep '+cpu$' | head -n 1 || true)"
    if [ -n "$cpu_version" ]; then
      torch_spec="torch==$cpu_version"
    else
      torch_spec="torch"
      echo "embed-bench: no CPU-only torch (+cpu) wheel available to pip; installing PyPI's torch" \
        "with its CUDA dependencies (several GB)" >&2
    fi
  fi
  echo "== creating $venv: $torch_spec and sentence-transformers (pip)" >&2
  start=$SECONDS
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$torch_spec" sentence-transformers >&2
  echo "== venv ready in $((SECONDS - start)) s, $(du -sh "$venv" | cut -f1)" >&2
fi

sentences="$work/sentences.txt"
"$bench" --count "$count" --write-sentences "$sentences"
load_start="$(cut -d ' ' -f 1 /proc/loadavg)"

cat > "$work/baseline.py" <<'PY'
"""all-MiniLM-L6-v2 through sentence-transformers on PyTorch (CPU): the baseline for EngramEmbed.
argv: MODEL_DIR SENTENCES_FILE COUNT THREADS [REFERENCE_JSON]
With REFERENCE_JSON it only checks the model against the reference embeddings and token ids."""
import json, os, sys, time
model_dir, sentences_path, count, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
reference = sys.argv[5] if len(sys.argv) > 5 else ""
import numpy as np
import torch
torch.set_num_threads(threads)
import transformers
transformers.utils.logging.disable_progress_bar()
import sentence_transformers
from sentence_transformers import SentenceTransformer

model = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
model.max_seq_length = json.load(open(os.path.join(model_dir, "sentence_bert_config.json")))["max_seq_length"]
model.eval()

def embed(texts):
    with torch.inference_mode():
        return model.encode(texts, batch_size=len(texts), convert_to_numpy=True,
                            normalize_embeddings=True, show_progress_bar=False)

out = {"implementation": "sentence-transformers", "threads": torch.get_num_threads(),
       "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
       "sentence_transformers": sentence_transformers.__version__, "transformers": transformers.__version__,
       "numpy": np.__version__, "max_seq_length": model.max_seq_length}
if reference:
    ref = json.load(open(reference))
    texts = [r["text"] for r in ref]
    got = embed(texts)
    ids = model.tokenizer(texts)["input_ids"]
    out["reference_max_abs_diff"] = float(max(np.abs(got[i] - np.array(r["embedding"])).max() for i, r in enumerate(ref)))
    out["reference_ids_match"] = all(list(a) == r["ids"] for a, r in zip(ids, ref))
    out["reference_texts"] = len(ref)
    print(json.dumps(out))
    sys.exit(0)

sentences = [s for s in open(sentences_path).read().split("\n") if s]
embed(sentences[:32])  # warm-up
out["throughput"], out["cpu_ms_per_sentence"] = {}, {}
for batch in [1, 8, 32, 128]:
    total = min(count, 64) if batch == 1 else max(count, batch) // batch * batch
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, total, batch):
        embed([sentences[(i + j) % len(sentences)] for j in range(batch)])
    out["throughput"][str(batch)] = total / (time.perf_counter() - start)
    out["cpu_ms_per_sentence"][str(batch)] = (time.process_time() - cpu) * 1000 / total
lat = []
for i in range(50):
    start = time.perf_counter(); embed([sentences[i % len(sentences)]]); lat.append(time.perf_counter() - start)
out["latency_ms"] = sorted(lat)[len(lat) // 2] * 1000
print(json.dumps(out))
PY

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_TELEMETRY=1
python_side() {  # THREADS [REFERENCE_JSON]
  OMP_NUM_THREADS="$1" MKL_NUM_THREADS="$1" RAYON_NUM_THREADS="$1" \
    "$venv/bin/python" "$work/baseline.py" "$model" "$sentences" "$count" "$@"
}

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
results="$work/results-$stamp.jsonl"
: > "$results"

# Same model? Check sentence-transformers against the shared reference before measuring.
if [ -s "$reference" ]; then
  echo "== checking sentence-transformers against $reference" >&2
  check="$(python_side 2 "$reference")"
  echo "$check" >> "$results"
  python3 - "$check" <<'PY'
import json, sys
c = json.loads(sys.argv[1])
if not c["reference_ids_match"] or c["reference_max_abs_diff"] > 1e-4:
    sys.exit(f"embed-bench: sentence-transformers does not match the reference (needs identical token ids and "
             f"max abs difference <= 1e-4): ids identical {c['reference_ids_match']}, "
             f"max abs difference {c['reference_max_abs_diff']:.1e}")
PY
else
  echo "embed-bench: $reference not found; the baseline is not checked against the reference" >&2
fi

for round in $(seq 1 "$rounds"); do
  for threads in 1 2; do
    echo "== round $round/$rounds, $threads thread(s): EngramEmbed" >&2
    "$bench" --model "$model" --sentences "$sentences" --count "$count" --threads "$threads" --json >> "$results"
    echo "== round $round/$rounds, $threads thread(s): sentence-transformers (PyTorch CPU)" >&2
    python_side "$threads" >> "$results"
  done
done
cp "$results" "$work/results.jsonl"

python3 - "$results" "$rounds" "$settings" "$command_line" "$load_start" <<'PY'
import datetime, json, os, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rounds, settings, command, load_start = sys.argv[2], sys.argv[3], sys.argv[4].strip(), float(sys.argv[5])
check = next((r for r in runs if "reference_max_abs_diff" in r), None)
runs = [r for r in runs if "throughput" in r]

def best(impl, threads):
    """Best figure per batch size over all rounds at this thread count."""
    rs = [r for r in runs if r["implementation"] == impl and r["threads"] == threads]
    return {"throughput": {b: max(r["throughput"][b] for r in rs) for b in rs[0]["throughput"]},
            "cpu": {b: min(r["cpu_ms_per_sentence"][b] for r in rs) for b in rs[0]["cpu_ms_per_sentence"]},
            "latency": min(r["latency_ms"] for r in rs), "first": rs[0]}

engram0 = next(r for r in runs if r["implementation"] == "engram-swift")
st0 = next(r for r in runs if r["implementation"] == "sentence-transformers")
print(f"all-MiniLM-L6-v2, {engram0['sentences']} sentences of {engram0['mean_words']:.1f} words / "
      f"{engram0['mean_tokens']:.1f} tokens on average; {os.cpu_count()} cores; best of {rounds} alternating rounds")
print("ratio = EngramEmbed / sentence-transformers for sentences/s, sentence-transformers / EngramEmbed for "
      "latency and CPU time (above 1: EngramEmbed faster)")
for threads in (1, 2):
    e, s = best("engram-swift", threads), best("sentence-transformers", threads)
    print()
    print(f"{str(threads) + ' thread' + ('s' if threads > 1 else ''):<24}{'EngramEmbed':>12}{'sentence-transformers':>23}{'ratio':>8}")
    for b in ["1", "8", "32", "128"]:
        a, c = e["throughput"][b], s["throughput"][b]
        print(f"{'batch ' + b + ', sentences/s':<24}{a:>12.1f}{c:>23.1f}{a / c:>7.2f}x")
    a, c = e["latency"], s["latency"]
    print(f"{'latency 1 sentence, ms':<24}{a:>12.2f}{c:>23.2f}{c / a:>7.2f}x")
    for b in ["1", "32"]:
        a, c = e["cpu"][b], s["cpu"][b]
        print(f"{'CPU ms/sentence, b=' + b:<24}{a:>12.2f}{c:>23.2f}{c / a:>7.2f}x")
print()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
cores = sorted({r["blas_core"] for r in runs if r["implementation"] == "engram-swift" and r.get("blas_core")})
load_end = os.getloadavg()[0]
print(f"CPU: {cpu}; load average {load_start:.1f} at the start, {load_end:.1f} at the end"
      + (" (busy machine: other work competes for the cores, figures are noisy)" if max(load_start, load_end) > os.cpu_count() else ""))
print(f"PyTorch {st0['torch']}, CPU capability {st0['cpu_capability']}; sentence-transformers "
      f"{st0['sentence_transformers']}, transformers {st0['transformers']}, max_seq_length {st0['max_seq_length']}")
print(f"EngramEmbed BLAS core: {', '.join(cores) if cores else 'unknown'}")
env = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
if env:
    print(f"environment (left as found): {' '.join(env)}")
if check:
    print(f"sentence-transformers vs shared/reference/minilm_reference.json ({check['reference_texts']} texts): "
          f"max abs difference {check['reference_max_abs_diff']:.1e}, token ids "
          f"{'identical' if check['reference_ids_match'] else 'DIFFERENT'}")
else:
    print("sentence-transformers not checked against the reference (file not found)")
print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
print(f"command: {settings} {command}")
print(f"raw results: {os.path.relpath(sys.argv[1])}")
PY
