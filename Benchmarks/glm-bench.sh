#!/usr/bin/env bash
# Compares EngramGLM with llama.cpp on the same GGUF file in the same run:
# prompt processing (tokens/s for a 512-token prompt) and generation (tokens/s for 128 tokens)
# at 1 and 2 threads, plus EngramGLM's peak RSS.
#
#   Benchmarks/glm-bench.sh [MODEL.gguf]
#
# llama.cpp comes from the PyPI package llama-cpp-python, installed into a virtual
# environment (default .build/glm-bench-venv, or $GLM_BENCH_VENV). Installing it compiles
# llama.cpp, which takes several minutes on a small machine; later runs reuse the venv.
# Not for CI: it refuses to run when CI is set.
# Settings (environment): GLM_BENCH_THREADS (default "1,2"), GLM_BENCH_PROMPT (512),
# GLM_BENCH_GEN (128), GLM_BENCH_REPEAT (3 runs per figure inside each engine),
# GLM_BENCH_ROUNDS (3: the engines alternate this many times; each figure is the best seen,
# which keeps a noisy, shared machine from favouring whichever engine ran in a quiet moment).
set -euo pipefail
if [ -n "${CI:-}" ]; then
  echo "glm-bench: not run in CI (it compiles llama.cpp)" >&2
  exit 0
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
model="${1:-${ENGRAM_GLM_MODEL:-$root/Data/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}}"
if [ ! -s "$model" ]; then
  echo "glm-bench: model $model not found; run Tools/setup-models.sh" >&2
  exit 1
fi
threads="${GLM_BENCH_THREADS:-1,2}"
prompt="${GLM_BENCH_PROMPT:-512}"
gen="${GLM_BENCH_GEN:-128}"
repeat="${GLM_BENCH_REPEAT:-3}"
rounds="${GLM_BENCH_ROUNDS:-3}"
venv="${GLM_BENCH_VENV:-$root/.build/glm-bench-venv}"

echo "== building engram-bench-glm" >&2
swift build -c release --product engram-bench-glm >&2
bench="$(swift build -c release --show-bin-path)/engram-bench-glm"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "== installing llama-cpp-python into $venv (compiles llama.cpp: this can take many minutes)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip >&2
  CMAKE_ARGS="${CMAKE_ARGS:-}" "$venv/bin/pip" install --quiet "llama-cpp-python==0.3.36" >&2
fi

out="$root/.build/glm-bench"
mkdir -p "$out"
for round in $(seq 1 "$rounds"); do
echo "== round $round: EngramGLM" >&2
"$bench" --model "$model" --threads "$threads" --prompt-tokens "$prompt" --gen-tokens "$gen" --repeat "$repeat" --json > "$out/engram-$round.json"

echo "== round $round: llama.cpp" >&2
"$venv/bin/python" - "$model" "$threads" "$prompt" "$gen" "$repeat" > "$out/llamacpp-$round.json" <<'PY'
import json, sys, time
import llama_cpp
from llama_cpp import Llama
model, threads, n_prompt, n_gen, repeat = sys.argv[1], [int(t) for t in sys.argv[2].split(",")], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
# The same prompt text as engram-bench-glm.
text = "The quick brown fox jumps over the lazy dog while the river runs to the sea, and memory keeps what matters. " * 64
results = []
for t in threads:
    llm = Llama(model_path=model, n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=t, n_threads_batch=t, verbose=False)
    toks = llm.tokenize(text.encode(), add_bos=False, special=False)[:n_prompt]
    best_pp = best_tg = 0.0
    for _ in range(repeat):
        llm.reset()
        t0 = time.perf_counter(); llm.eval(toks); best_pp = max(best_pp, len(toks) / (time.perf_counter() - t0))
        llm.reset(); llm.eval(toks[:8])
        tok = toks[8]
        t1 = time.perf_counter()
        for _ in range(n_gen):
            llm.eval([tok])
            tok = int(llm.scores[llm.n_tokens - 1].argmax())
        best_tg = max(best_tg, n_gen / (time.perf_counter() - t1))
    results.append({"threads": t, "pp_tokens_per_s": best_pp, "tg_tokens_per_s": best_tg})
    del llm
print(json.dumps({"engine": "llama.cpp", "version": llama_cpp.__version__, "results": results}))
PY
done

python3 - "$out" "$rounds" "$prompt" "$gen" <<'PY'
import json, sys
out, rounds, n_prompt, n_gen = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def best(name):
    runs = [json.load(open(f"{out}/{name}-{r}.json")) for r in range(1, rounds + 1)]
    merged = dict(runs[0])
    merged["results"] = [{"threads": rs[0]["threads"],
                          "pp_tokens_per_s": max(x["pp_tokens_per_s"] for x in rs),
                          "tg_tokens_per_s": max(x["tg_tokens_per_s"] for x in rs)}
                         for rs in zip(*[r["results"] for r in runs])]
    if "peak_rss_mb" in merged:
        merged["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return merged
e, l = best("engram"), best("llamacpp")
print(f"model: {e['model']}")
print(f"{'threads':>7} | {'engram pp'+n_prompt:>13} {'llama.cpp':>10} {'ratio':>6} | {'engram tg'+n_gen:>13} {'llama.cpp':>10} {'ratio':>6}")
for a, b in zip(e["results"], l["results"]):
    print(f"{a['threads']:>7} | {a['pp_tokens_per_s']:>13.1f} {b['pp_tokens_per_s']:>10.1f} {a['pp_tokens_per_s']/b['pp_tokens_per_s']:>6.2f} | "
          f"{a['tg_tokens_per_s']:>13.1f} {b['tg_tokens_per_s']:>10.1f} {a['tg_tokens_per_s']/b['tg_tokens_per_s']:>6.2f}")
print(f"best of {rounds} alternating rounds")
print(f"engram peak RSS {e['peak_rss_mb']:.1f} MB = {e['peak_rss_mb']/e['model_file_mb']:.2f} x the model file ({e['model_file_mb']:.1f} MB); llama.cpp {l['version']}")
PY
