#!/usr/bin/env bash
# Sentence-embedding benchmark: EngramEmbed (Swift, OpenBLAS) next to a Python baseline of the
# same model (Hugging Face `tokenizers` + numpy float32), measured in the same run on the same
# sentences. Prints sentences/s at batch 1, 8, 32, 128, single-sentence latency, and the ratio.
#
#   Benchmarks/embed-bench.sh            # from the repository root
#   COUNT=512 Benchmarks/embed-bench.sh  # more sentences per batch size (default 256)
#   ROUNDS=3 Benchmarks/embed-bench.sh   # alternate Swift and Python 3 times, keep each one's best (default 2)
# Each round runs both sides with 1 and with 2 threads; each side is reported at its best.
#   PACKAGE=/other/checkout Benchmarks/embed-bench.sh  # build the Swift bench from another package
#
# Needs the model files (Tools/setup-models.sh). Creates a venv in .build-embed-bench/venv
# (ignored by git) with `tokenizers` from PyPI; numpy comes from the system.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
count="${COUNT:-256}"
rounds="${ROUNDS:-2}"
model="${ENGRAM_EMBED_MODEL:-$root/Data/models/all-MiniLM-L6-v2}"
work="$root/.build-embed-bench"
mkdir -p "$work"
if [ ! -s "$model/model.safetensors" ]; then
  echo "embed-bench: no model in $model; run Tools/setup-models.sh" >&2
  exit 1
fi

echo "== building engram-bench-embed (release)" >&2
package="${PACKAGE:-$root}"
swift build --package-path "$package" -c release --product engram-bench-embed >&2
bench="$(swift build --package-path "$package" -c release --show-bin-path)/engram-bench-embed"

venv="$work/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import tokenizers, numpy" 2>/dev/null; then
  echo "== creating $venv (tokenizers from PyPI, numpy from the system)" >&2
  python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check tokenizers >&2
fi

sentences="$work/sentences.txt"
"$bench" --count "$count" --write-sentences "$sentences"

cat > "$work/baseline.py" <<'PY'
"""all-MiniLM-L6-v2 in numpy float32: tokenizers for WordPiece, padded batches with an
attention mask, mean pooling over real tokens, L2 normalisation. The baseline for EngramEmbed."""
import json, math, os, struct, sys, time
import numpy as np
from tokenizers import Tokenizer

model_dir, sentences_path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    from scipy.special import erf
except ImportError:  # Abramowitz & Stegun 7.1.26, |error| < 1.5e-7
    def erf(x):
        s = np.sign(x); a = np.abs(x); t = 1 / (1 + 0.3275911 * a)
        y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
        return s * y

def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        b, e = info["data_offsets"]
        out[name.replace("bert.", "")] = np.frombuffer(data[b:e], dtype=np.float32).reshape(info["shape"])
    return out

W = load_safetensors(f"{model_dir}/model.safetensors")
cfg = json.load(open(f"{model_dir}/config.json"))
H, L, NH, eps = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
D = H // NH
# Pre-transposed, contiguous weights so every projection is one x @ W matmul.
layers = []
for i in range(L):
    p = f"encoder.layer.{i}."
    g = lambda k: W[p + k]
    layers.append(dict(
        qkv=np.ascontiguousarray(np.concatenate([g("attention.self.query.weight"), g("attention.self.key.weight"), g("attention.self.value.weight")]).T),
        qkv_b=np.concatenate([g("attention.self.query.bias"), g("attention.self.key.bias"), g("attention.self.value.bias")]),
        o=np.ascontiguousarray(g("attention.output.dense.weight").T), o_b=g("attention.output.dense.bias"),
        ln1=(g("attention.output.LayerNorm.weight"), g("attention.output.LayerNorm.bias")),
        f1=np.ascontiguousarray(g("intermediate.dense.weight").T), f1_b=g("intermediate.dense.bias"),
        f2=np.ascontiguousarray(g("output.dense.weight").T), f2_b=g("output.dense.bias"),
        ln2=(g("output.LayerNorm.weight"), g("output.LayerNorm.bias"))))
word, pos, typ = W["embeddings.word_embeddings.weight"], W["embeddings.position_embeddings.weight"], W["embeddings.token_type_embeddings.weight"]
ln0 = (W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"])

tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
tok.no_padding()
tok.enable_truncation(max_length=256)

def layer_norm(x, gb):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * gb[0] + gb[1]

def embed(texts):
    encs = tok.encode_batch(texts)
    B, T = len(encs), max(len(e.ids) for e in encs)
    ids = np.zeros((B, T), dtype=np.int64); mask = np.zeros((B, T), dtype=np.float32)
    for b, e in enumerate(encs):
        ids[b, :len(e.ids)] = e.ids; mask[b, :len(e.ids)] = 1
    x = layer_norm(word[ids] + pos[:T] + typ[0], ln0).reshape(B * T, H)
    bias = ((1 - mask) * -1e9)[:, None, None, :]
    for l in layers:
        qkv = (x @ l["qkv"] + l["qkv_b"]).reshape(B, T, 3, NH, D).transpose(2, 0, 3, 1, 4)
        s = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) * np.float32(1 / math.sqrt(D)) + bias
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        a = (s @ qkv[2]).transpose(0, 2, 1, 3).reshape(B * T, H)
        x = layer_norm(a @ l["o"] + l["o_b"] + x, l["ln1"])
        f = x @ l["f1"] + l["f1_b"]
        f = 0.5 * f * (1 + erf(f * np.float32(1 / math.sqrt(2))))
        x = layer_norm(f @ l["f2"] + l["f2_b"] + x, l["ln2"]).astype(np.float32)
    x = x.reshape(B, T, H)
    e = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    return e / np.linalg.norm(e, axis=1, keepdims=True)

sentences = [s for s in open(sentences_path).read().split("\n") if s]
embed(sentences[:32])  # warm-up
out = {"implementation": "python-numpy", "throughput": {}, "cpu_ms_per_sentence": {},
       "threads": int(os.environ.get("OPENBLAS_NUM_THREADS", "0") or 0)}
# Same model? Compare with the shared reference embeddings when they are beside the repository.
reference = os.environ.get("ENGRAM_REFERENCE_JSON", "")
if reference and os.path.exists(reference):
    ref = json.load(open(reference))
    got = embed([r["text"] for r in ref])
    out["reference_max_abs_diff"] = float(max(np.abs(got[i] - np.array(r["embedding"])).max() for i, r in enumerate(ref)))
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
out["numpy"] = np.__version__
print(json.dumps(out))
PY

# Alternate the two so that both see the same machine, each with 1 and with 2 threads
# (OpenBLAS threads for numpy, worker threads for EngramEmbed): on a busy machine numpy is
# often faster single-threaded, and the baseline should be numpy at its best.
results="$work/results.jsonl"
: > "$results"
for round in $(seq 1 "$rounds"); do
  for threads in 1 2; do
    echo "== round $round/$rounds, $threads thread(s): Swift (EngramEmbed)" >&2
    "$bench" --sentences "$sentences" --count "$count" --threads "$threads" --json >> "$results"
    echo "== round $round/$rounds, $threads thread(s): Python baseline (tokenizers + numpy float32)" >&2
    OPENBLAS_NUM_THREADS="$threads" ENGRAM_REFERENCE_JSON="$root/../shared/reference/minilm_reference.json" \
      "$venv/bin/python" "$work/baseline.py" "$model" "$sentences" "$count" >> "$results"
  done
done

python3 - "$results" "$rounds" <<'PY'
import json, os, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
def best(impl, threads=None):
    """Best figure per batch size over all rounds (and thread counts unless one is given)."""
    rs = [r for r in runs if r["implementation"] == impl and (threads is None or r["threads"] == threads)]
    out = {"first": rs[0], "throughput": {}, "cpu": {}}
    for b in rs[0]["throughput"]:
        r = max(rs, key=lambda r: r["throughput"][b]); out["throughput"][b] = (r["throughput"][b], r["threads"])
        r = min(rs, key=lambda r: r["cpu_ms_per_sentence"][b]); out["cpu"][b] = (r["cpu_ms_per_sentence"][b], r["threads"])
    r = min(rs, key=lambda r: r["latency_ms"]); out["latency"] = (r["latency_ms"], r["threads"])
    return out
s, p2, p = best("engram-swift"), best("python-numpy", 2), best("python-numpy")
first = s["first"]
load = os.getloadavg()[0]
print(f"all-MiniLM-L6-v2, {first['sentences']} sentences of {first['mean_words']:.1f} words / {first['mean_tokens']:.1f} tokens on average; "
      f"{os.cpu_count()} cores (load average {load:.1f}); numpy {p['first']['numpy']}; best of {sys.argv[2]} alternating rounds")
print("EngramEmbed and 'numpy best' are each at their best of 1 and 2 threads (the winner in brackets);")
print("'numpy 2t' is numpy with OpenBLAS on both cores (its default here).")
cell = lambda v, fmt: f"{fmt.format(v[0])} ({v[1]}t)"
print(f"{'':<24}{'EngramEmbed':>14}{'numpy 2t':>10}{'ratio':>8}{'numpy best':>14}{'ratio':>8}")
for b in ["1", "8", "32", "128"]:
    a, c2, c = s["throughput"][b], p2["throughput"][b], p["throughput"][b]
    print(f"{'batch ' + b + ', sentences/s':<24}{cell(a, '{:.1f}'):>14}{c2[0]:>10.1f}{a[0] / c2[0]:>7.2f}x{cell(c, '{:.1f}'):>14}{a[0] / c[0]:>7.2f}x")
a, c2, c = s["latency"], p2["latency"], p["latency"]
print(f"{'latency 1 sentence, ms':<24}{cell(a, '{:.2f}'):>14}{c2[0]:>10.2f}{c2[0] / a[0]:>7.2f}x{cell(c, '{:.2f}'):>14}{c[0] / a[0]:>7.2f}x")
for b in ["1", "32"]:
    a, c2, c = s["cpu"][b], p2["cpu"][b], p["cpu"][b]
    print(f"{'CPU ms/sentence, b=' + b:<24}{cell(a, '{:.2f}'):>14}{c2[0]:>10.2f}{c2[0] / a[0]:>7.2f}x{cell(c, '{:.2f}'):>14}{c[0] / a[0]:>7.2f}x")
diffs = [r["reference_max_abs_diff"] for r in runs if "reference_max_abs_diff" in r]
if diffs:
    print(f"(numpy baseline checked against shared/reference/minilm_reference.json: max abs difference {max(diffs):.1e})")
PY
