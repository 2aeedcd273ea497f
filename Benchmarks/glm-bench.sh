#!/usr/bin/env bash
# Compares EngramGLM with llama.cpp's own `llama-bench` on the same GGUF files:
# prompt processing (tokens/s for a 512-token prompt, "pp512") and generation (tokens/s for
# 128 tokens, "tg128") at 1 and 2 threads, for several quantization types.
#
#   Benchmarks/glm-bench.sh [MODEL.gguf]
#
# MODEL defaults to the bundled Data/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# (or $ENGRAM_GLM_MODEL). For each requested type the model is used as it is when its file
# name already ends in .TYPE.gguf; otherwise llama-quantize --allow-requantize makes that
# variant from it (cached in .build-llama/models/).
#
# llama.cpp is the copy vendored in the PyPI sdist of llama-cpp-python (pinned below). The
# script downloads that sdist with pip, installs cmake and ninja from PyPI into a venv, and
# builds only llama-bench and llama-quantize (Release, CPU only, static, no curl/openssl).
# Everything is cached under .build-llama/ (git-ignored): venv/, sdist/, src/, build/, bin/,
# models/, and the raw JSON of each run in results/<UTC time>/. The first run compiles
# llama.cpp, which takes several minutes on 2 cores; later runs reuse the binaries.
#
# Instruction sets: llama.cpp is built for the host CPU (GGML_NATIVE=ON) unless the CPU
# advertises AMX but a probe shows this sandbox refuses AMX tiles (the kernel permission
# request fails or tile instructions fault); then it is built with GGML_NATIVE=OFF and
# explicit AVX/AVX2/FMA/F16C/AVX-512... flags read from /proc/cpuinfo, AMX off.
#
# Not for CI: it refuses to run when CI is set.
# Settings (environment):
#   GLM_BENCH_TYPES   quantization types to run (default "Q4_1,Q4_0,Q8_0")
#   GLM_BENCH_THREADS thread counts (default "1,2")
#   GLM_BENCH_PROMPT  prompt tokens (512)    GLM_BENCH_GEN   generated tokens (128)
#   GLM_BENCH_REPEAT  runs per figure inside each engine (3)
#   GLM_BENCH_ROUNDS  the engines alternate this many times (3); each figure is the best seen
#                     over all runs and rounds, which keeps a noisy, shared machine from
#                     favouring whichever engine ran in a quiet moment
#   GLM_BENCH_LLAMA_NATIVE  auto (default) | on | off: override the instruction-set choice
#   ENGRAM_BENCH_GLM  path to a prebuilt engram-bench-glm; unset, the script runs
#                     `swift build -c release --product engram-bench-glm` first
set -euo pipefail
if [ -n "${CI:-}" ]; then
  echo "glm-bench: not run in CI (it compiles llama.cpp)" >&2
  exit 0
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# The exact command, for the report (settings passed through the environment included).
command_line="$(env | grep -E '^(GLM_BENCH_[A-Z_]+|ENGRAM_GLM_MODEL|ENGRAM_BENCH_GLM)=' | sort | tr '\n' ' ' || true)"
command_line+="$(printf '%q ' "$0" "$@")"

model="${1:-${ENGRAM_GLM_MODEL:-$root/Data/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}}"
if [ ! -s "$model" ]; then
  echo "glm-bench: model $model not found; run Tools/setup-models.sh" >&2
  exit 1
fi
model="$(cd "$(dirname "$model")" && pwd)/$(basename "$model")"
types="$(echo "${GLM_BENCH_TYPES:-Q4_1,Q4_0,Q8_0}" | tr '[:lower:]' '[:upper:]' | tr -d ' ')"
threads="${GLM_BENCH_THREADS:-1,2}"
prompt="${GLM_BENCH_PROMPT:-512}"
gen="${GLM_BENCH_GEN:-128}"
repeat="${GLM_BENCH_REPEAT:-3}"
rounds="${GLM_BENCH_ROUNDS:-3}"
native_mode="${GLM_BENCH_LLAMA_NATIVE:-auto}"

llama_cpp_python_version="0.3.36"
cache="$root/.build-llama"
venv="$cache/venv"
src="$cache/src/llama_cpp_python-$llama_cpp_python_version"
llama_src="$src/vendor/llama.cpp"
build="$cache/build"
bin="$cache/bin"
mkdir -p "$cache"/{sdist,src,bin,models,results,probe}

log() { echo "glm-bench: $*" >&2; }

# ---------------------------------------------------------------- EngramGLM
if [ -n "${ENGRAM_BENCH_GLM:-}" ]; then
  engram="$ENGRAM_BENCH_GLM"
else
  log "building engram-bench-glm"
  swift build -c release --product engram-bench-glm >&2
  engram="$(swift build -c release --show-bin-path)/engram-bench-glm"
fi
[ -x "$engram" ] || { log "no engram-bench-glm at $engram"; exit 1; }

# ---------------------------------------------------------------- cmake + ninja from PyPI
if [ ! -x "$venv/bin/cmake" ] || [ ! -x "$venv/bin/ninja" ]; then
  log "installing cmake and ninja from PyPI into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check cmake ninja >&2
fi
export PATH="$venv/bin:$PATH"

# ---------------------------------------------------------------- llama.cpp sources
sdist="$cache/sdist/llama_cpp_python-$llama_cpp_python_version.tar.gz"
if [ ! -s "$sdist" ]; then
  log "downloading the llama-cpp-python $llama_cpp_python_version sdist"
  # --no-binary only for llama-cpp-python itself: with ":all:" pip would also insist on
  # building its build dependencies (cmake among them) from source just to read metadata.
  if ! "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
        --no-binary llama-cpp-python "llama-cpp-python==$llama_cpp_python_version" \
        -d "$cache/sdist" >&2; then
    log "retrying without build isolation (metadata from the venv's scikit-build-core)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check scikit-build-core >&2
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
      --no-binary :all: --no-build-isolation "llama-cpp-python==$llama_cpp_python_version" \
      -d "$cache/sdist" >&2
  fi
fi
if [ ! -f "$llama_src/CMakeLists.txt" ]; then
  log "unpacking $(basename "$sdist")"
  tar -xzf "$sdist" -C "$cache/src"
fi
# The sdist has no git metadata, and a git lookup from inside it would find Engram's own
# repository; the commit comes from llama-cpp-python's changelog entry for this release.
llama_commit="$(awk -v v="## [$llama_cpp_python_version]" '
  $0 == v { on = 1; next }  on && /^## \[/ { exit }
  on && match($0, /llama\.cpp@[0-9a-f]+/) { print substr($0, RSTART + 10, RLENGTH - 10); exit }' \
  "$src/CHANGELOG.md" 2>/dev/null || true)"
llama_commit="${llama_commit:-unknown}"

# ---------------------------------------------------------------- instruction sets
cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has_flag() { [[ "$cpu_flags" == *" $1 "* ]]; }

# AMX needs a per-process permission from the kernel (arch_prctl ARCH_REQ_XCOMP_PERM for
# XFEATURE_XTILEDATA) before the first tile instruction; a sandbox may refuse it, or let
# tile instructions raise SIGILL. ggml built with -march=native on an AMX CPU would use them.
probe_c="$cache/probe/amx-probe.c"
cat > "$probe_c" <<'C'
#define _GNU_SOURCE
#include <errno.h>
#include <immintrin.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int request(void) { return (int)syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); }

struct tile_config { unsigned char palette, start_row, reserved[14]; unsigned short colsb[16]; unsigned char rows[16]; };

static void use_tiles(void) {
    struct tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1; cfg.rows[0] = 16; cfg.colsb[0] = 64;
    _tile_loadconfig(&cfg);
    _tile_zero(0);
    _tile_release();
}

int main(void) {
    if (request() != 0) {
        printf("refused: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) failed: %s\n", strerror(errno));
        return 1;
    }
    unsigned long mask = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &mask) != 0 || !(mask & (1UL << XFEATURE_XTILEDATA))) {
        printf("refused: XTILEDATA missing from the permitted features (0x%lx)\n", mask);
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork(); /* the tile test runs in a child, so a SIGILL only kills the child */
    if (pid == 0) { if (request() != 0) _exit(3); use_tiles(); _exit(0); }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) { printf("refused: could not run the tile test\n"); return 1; }
    if (WIFSIGNALED(status)) {
        printf("refused: tile instructions raised signal %d (%s)\n", WTERMSIG(status), strsignal(WTERMSIG(status)));
        return 1;
    }
    if (WEXITSTATUS(status) != 0) { printf("refused: tile test exited with %d\n", WEXITSTATUS(status)); return 1; }
    printf("ok: permission granted and tiles usable\n");
    return 0;
}
C
if gcc -O1 -mamx-tile -o "$cache/probe/amx-probe" "$probe_c" 2>"$cache/probe/compile.log"; then
  amx_probe="$("$cache/probe/amx-probe" 2>&1 || true)"
else
  amx_probe="refused: the probe did not compile (see $cache/probe/compile.log)"
fi
amx_advertised=no
if has_flag amx_tile \
   || gcc -march=native -Q --help=target 2>/dev/null | grep -Eq '^\s+-mamx-tile\s+\[enabled\]'; then
  amx_advertised=yes
fi
log "AMX advertised by the CPU: $amx_advertised; AMX probe: $amx_probe"

case "$native_mode" in
  on) use_native=yes; isa_reason="GLM_BENCH_LLAMA_NATIVE=on" ;;
  off) use_native=no; isa_reason="GLM_BENCH_LLAMA_NATIVE=off" ;;
  auto)
    if [ "$amx_advertised" = yes ] && [[ "$amx_probe" != ok* ]]; then
      use_native=no; isa_reason="the CPU advertises AMX but this sandbox refuses it"
    elif [ "$amx_advertised" = yes ]; then
      use_native=yes; isa_reason="the CPU advertises AMX and the probe could use it"
    else
      use_native=yes; isa_reason="the CPU advertises no AMX"
    fi ;;
  *) log "GLM_BENCH_LLAMA_NATIVE must be auto, on or off"; exit 2 ;;
esac

isa_flags=()
if [ "$use_native" = yes ]; then
  isa_flags=(-DGGML_NATIVE=ON)
  isa_choice="GGML_NATIVE=ON (-march=native), because $isa_reason"
else
  onoff() { local f; for f in "$@"; do has_flag "$f" || { echo OFF; return; }; done; echo ON; }
  # GGML_AVX512 turns on -mavx512f/cd/vl/dq/bw together, so it needs all five.
  isa_flags=(-DGGML_NATIVE=OFF
    -DGGML_SSE42="$(onoff sse4_2)" -DGGML_BMI2="$(onoff bmi2)"
    -DGGML_AVX="$(onoff avx)" -DGGML_AVX2="$(onoff avx2)"
    -DGGML_FMA="$(onoff fma)" -DGGML_F16C="$(onoff f16c)"
    -DGGML_AVX_VNNI="$(onoff avx_vnni)"
    -DGGML_AVX512="$(onoff avx512f avx512cd avx512vl avx512dq avx512bw)"
    -DGGML_AVX512_VBMI="$(onoff avx512vbmi)" -DGGML_AVX512_VNNI="$(onoff avx512_vnni)"
    -DGGML_AVX512_BF16="$(onoff avx512_bf16)"
    -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
  isa_choice="GGML_NATIVE=OFF with flags from /proc/cpuinfo [$(echo "${isa_flags[*]:1}" | sed 's/-DGGML_//g')], because $isa_reason"
fi
log "llama.cpp instruction sets: $isa_choice"

# ---------------------------------------------------------------- build llama-bench, llama-quantize
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF
  -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON
  -DGGML_CUDA=OFF -DGGML_HIP=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_SYCL=OFF
  -DGGML_OPENCL=OFF -DGGML_BLAS=OFF -DGGML_RPC=OFF -DGGML_BACKEND_DL=OFF -DGGML_CCACHE=OFF
  -DLLAMA_BUILD_COMMIT="$llama_commit" -DLLAMA_BUILD_NUMBER=0 # no history in the sdist: build number unknown
  "${isa_flags[@]}")
stamp="llama-cpp-python $llama_cpp_python_version; ${cmake_args[*]}"
if [ -x "$bin/llama-bench" ] && [ -x "$bin/llama-quantize" ] \
   && [ "$(cat "$bin/build-config.txt" 2>/dev/null)" = "$stamp" ]; then
  log "reusing llama.cpp binaries in $bin (built in $(cat "$bin/build-seconds.txt" 2>/dev/null || echo '?') s)"
else
  log "building llama.cpp (llama-bench, llama-quantize) in $build: several minutes on 2 cores"
  build_start=$SECONDS
  cmake -S "$llama_src" -B "$build" "${cmake_args[@]}" > "$cache/cmake-configure.log" 2>&1 \
    || { tail -30 "$cache/cmake-configure.log" >&2; exit 1; }
  cmake --build "$build" --target llama-bench llama-quantize -j 2 > "$cache/cmake-build.log" 2>&1 \
    || { tail -30 "$cache/cmake-build.log" >&2; exit 1; }
  cp "$build/bin/llama-bench" "$build/bin/llama-quantize" "$bin/"
  echo "$stamp" > "$bin/build-config.txt"
  echo $((SECONDS - build_start)) > "$bin/build-seconds.txt"
  log "llama.cpp built in $(cat "$bin/build-seconds.txt") s"
fi
llama_version="$("$bin/llama-bench" --version 2>&1 | tr '\n' ' ' | sed 's/ *$//')"
log "llama-bench --version: $llama_version"

# ---------------------------------------------------------------- model variants
base_name="$(basename "$model" .gguf)"
stem="$(echo "$base_name" | sed -E 's/[.-](F32|F16|BF16|Q[0-9]_[0-9A-Z_]+)$//I')"
declare -A model_for
IFS=, read -r -a type_list <<< "$types"
for t in "${type_list[@]}"; do
  if [[ "$(echo "$base_name" | tr '[:lower:]' '[:upper:]')" == *".$t" ]]; then
    model_for[$t]="$model"
    continue
  fi
  variant="$cache/models/$stem.$t.gguf"
  if [ ! -s "$variant" ]; then
    log "quantizing $(basename "$model") to $t"
    # Requantizing an already-quantized file loses some quality but not speed, which is all
    # that is measured here; both engines read the same file.
    "$bin/llama-quantize" --allow-requantize "$model" "$variant.tmp" "$t" 2 \
      > "$cache/models/$stem.$t.log" 2>&1 || { tail -20 "$cache/models/$stem.$t.log" >&2; exit 1; }
    mv "$variant.tmp" "$variant"
  fi
  model_for[$t]="$variant"
done

# ---------------------------------------------------------------- alternating rounds
stamp_utc="$(date -u +%Y%m%dT%H%M%SZ)"
out="$cache/results/$stamp_utc"
mkdir -p "$out"
run_engram() { # type round
  log "round $2, $1: EngramGLM"
  "$engram" --model "${model_for[$1]}" --threads "$threads" --prompt-tokens "$prompt" \
    --gen-tokens "$gen" --repeat "$repeat" --json > "$out/engram-$1-r$2.json"
}
run_llama() { # type round
  log "round $2, $1: llama-bench"
  "$bin/llama-bench" -m "${model_for[$1]}" -t "$threads" -p "$prompt" -n "$gen" -r "$repeat" \
    -o json > "$out/llamacpp-$1-r$2.json" 2> "$out/llamacpp-$1-r$2.log"
}
# Load average before and after: the figures are only as quiet as the machine was.
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$rounds"); do
  for t in "${type_list[@]}"; do
    # Alternate which engine goes first, so neither always runs right after the other.
    if [ $((round % 2)) -eq 1 ]; then run_engram "$t" "$round"; run_llama "$t" "$round"
    else run_llama "$t" "$round"; run_engram "$t" "$round"; fi
  done
done

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report
cpu_model="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
cpu_family="$(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
cpu_modelno="$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
cpu_stepping="$(grep -m1 '^stepping' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
cpu="$cpu_model (family $cpu_family, model $cpu_modelno = 0x$(printf '%x' "$cpu_modelno"), stepping $cpu_stepping)"

GLM_TYPES="$types" python3 - "$out" "$rounds" "$prompt" "$gen" "$repeat" "$cpu" "$isa_choice" "$llama_version" \
  "$llama_cpp_python_version" "$command_line" "$load_before -> $load_after" <<'PY' | tee "$out/summary.txt"
import glob, json, os, sys, time
out, rounds, n_prompt, n_gen, repeat, cpu, isa, llama_version, lcp_version, command, loadavg = sys.argv[1:]
n_prompt, n_gen = int(n_prompt), int(n_gen)
types = [t for t in os.environ["GLM_TYPES"].split(",") if t]

def load(pattern):
    return [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, pattern)))]

# best[(engine, type, threads, test)] = tokens/s, the best over every run of every round.
best, info = {}, {}
def keep(key, value):
    best[key] = max(best.get(key, 0.0), value)
for t in types:
    for e in load(f"engram-{t}-r*.json"):
        info.setdefault(("engram", t), e)
        info[("engram_rss", t)] = max(info.get(("engram_rss", t), 0.0), e.get("peak_rss_mb", 0.0))
        for r in e["results"]:
            keep(("engram", t, r["threads"], "pp"), r["pp_tokens_per_s"])
            keep(("engram", t, r["threads"], "tg"), r["tg_tokens_per_s"])
    for runs in load(f"llamacpp-{t}-r*.json"):
        for r in runs:
            info.setdefault(("llama", t), r)
            test = "pp" if r["n_gen"] == 0 else "tg" if r["n_prompt"] == 0 else None
            if test:
                # engram-bench-glm reports the best of its --repeat runs, so the best sample
                # here too (llama-bench's avg_ts is the mean of its -r runs).
                keep(("llama", t, r["n_threads"], test), max(r.get("samples_ts") or [r["avg_ts"]]))

threads = sorted({k[2] for k in best})
def f(v): return f"{v:.1f}" if v else "-"
def ratio(a, b): return f"{a / b:.2f}" if a and b else "-"
head = ["type", "threads", f"engram pp{n_prompt}", f"llama.cpp pp{n_prompt}", "ratio",
        f"engram tg{n_gen}", f"llama.cpp tg{n_gen}", "ratio"]
rows = []
for t in types:
    for th in threads:
        g = lambda e, test: best.get((e, t, th, test), 0.0)
        rows.append([t, str(th), f(g("engram", "pp")), f(g("llama", "pp")), ratio(g("engram", "pp"), g("llama", "pp")),
                     f(g("engram", "tg")), f(g("llama", "tg")), ratio(g("engram", "tg"), g("llama", "tg"))])
w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
line = lambda r: " | ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(r))
print(line(head))
print("-+-".join("-" * x for x in w))
for r in rows:
    print(line(r))
print(f"tokens/s, best of {rounds} alternating rounds x {repeat} runs; ratio = engram / llama.cpp")

blas = sorted({info[("engram", t)].get("blas_core") for t in types if ("engram", t) in info} - {None})
any_llama = next((info[("llama", t)] for t in types if ("llama", t) in info), {})
print(f"CPU: {cpu}")
print(f"Engram BLAS core: {', '.join(map(str, blas)) or 'unknown'}")
print(f"llama.cpp: llama-bench --version says \"{llama_version}\"; vendored in llama-cpp-python "
      f"{lcp_version}; backends {any_llama.get('backends', '?')}; flash_attn {any_llama.get('flash_attn', '?')} "
      f"(-1 = auto), n_ubatch {any_llama.get('n_ubatch', '?')}, KV {any_llama.get('type_k', '?')}")
print(f"llama.cpp build: Release, static, CPU only, {isa}")
print("models: " + "; ".join(f"{t} {os.path.basename(info[('engram', t)]['model'])} "
                             f"({info[('engram', t)]['model_file_mb']:.1f} MB, engram peak RSS "
                             f"{info[('engram_rss', t)]:.1f} MB)" for t in types if ("engram", t) in info))
print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} (load average before -> after the rounds: {loadavg})")
print(f"command: {command.strip()}")
print(f"raw JSON: {out}")
PY
