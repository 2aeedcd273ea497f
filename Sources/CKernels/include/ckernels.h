// Engram's CPU kernels for the GLM engine and the embedder, with variants for several
// instruction sets chosen once at start-up (CPUID), so that one binary runs on any x86-64
// (and arm64) CPU and uses what it has. Library code is compiled for the baseline; each
// variant is a function compiled for its own instruction set (`target` attributes), called
// only when the CPU has it.
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set variants, in increasing order. On arm64 only `ek_simd_portable` (NEON,
/// the arm64 baseline) exists. The `_at` functions take a variant (for tests that compare
/// them); one above what the CPU has runs the CPU's best.
enum {
    ek_simd_portable = 0,   ///< the baseline: SSE2 on x86-64, NEON on arm64
    ek_simd_avx2 = 1,       ///< AVX2, FMA, F16C
    ek_simd_avx512 = 2,     ///< AVX-512 F/BW/DQ/VL
    ek_simd_avx512vnni = 3, ///< AVX-512 with VNNI (integer dot products)
};

/// The variant the kernels use: the best the CPU has (CPUID, read once), or a lower one when
/// the environment variable ENGRAM_SIMD names it (`portable`, `avx2`, `avx512`,
/// `avx512vnni`); a name above what the CPU has, or an unknown one, is ignored.
int ek_simd_level(void);
/// The best variant the CPU has, whatever ENGRAM_SIMD says.
int ek_simd_cpu_level(void);
/// The CPUs this process may run on: its affinity mask on Linux (`taskset` and containers
/// narrow it), else the online processors; at least 1.
int ek_available_cpus(void);
/// The name of a variant (`portable`, `avx2`, `avx512`, `avx512vnni`).
const char *ek_simd_name(int level);

/// The OpenBLAS core type (`OPENBLAS_CORETYPE` name) that fits this CPU's vector units
/// (CPUID): `SkylakeX` with AVX-512, `Zen` (AMD) or `Haswell` (others) with AVX2 and FMA,
/// `Sandybridge` with AVX; NULL below that or off x86-64.
const char *ek_openblas_core_for_cpu(void);

// MARK: Activations quantized to 8 bits

/// Quantizes `n` floats (a multiple of 32) in blocks of 32, as ggml's Q8_0/Q8_1:
/// `x[32b+j] ≈ d[b]·q[32b+j]` with `q = x·(127 / max|x|)` rounded to nearest even and
/// `d[b] = max|x| / 127` rounded to half precision (both as ggml does), and
/// `s[b] = d[b]·Σ_j q[32b+j]`. A block holding NaN or ±∞ gets
/// `d = s = NaN` and zero quants (so every dot product with it is NaN); a block whose scale
/// is zero or subnormal gets zeros.
void ek_quantize_q8(const float *x, int64_t n, int8_t *q, float *d, float *s);
void ek_quantize_q8_at(int level, const float *x, int64_t n, int8_t *q, float *d, float *s);
/// Two terms: a 16-bit quantization split into bytes for the 8-bit products,
/// `x ≈ δ·(256·q₁ + q₂)` with `δ = max|x| / 32,512` (a float) and `256·q₁ + q₂` the value
/// `x/δ` rounded to nearest even, `q₁` its high byte rounded (|q₁| ≤ 127, ties up) and `q₂` what
/// it leaves (−128…127). Writes the `n` quants of each term, the second's `term_values` after
/// the first's (`term_values` = `n` for a whole activation, its total length for a part of
/// it), and `n/32` scales and sums twice: at `d[b]`, `s[b]` those of `q₁` alone as a one-term
/// activation (`d = 256·δ`, `s = d·Σq₁`, for kernels that read one term), at
/// `d[term_values/32 + b]`, `s[…]` those of the whole (`δ`, `δ·Σ(256·q₁ + q₂)`). Products are
/// then nearly as exact as in floats: the tile kernels take `Σw·(256·q₁ + q₂)` as one integer
/// sum. Non-finite blocks as above; a block whose `δ` would be subnormal gets zeros.
void ek_quantize_q8_wide(const float *x, int64_t n, int64_t term_values, int8_t *q, float *d, float *s);
void ek_quantize_q8_wide_at(int level, const float *x, int64_t n, int64_t term_values, int8_t *q, float *d, float *s);

// MARK: Matrix–vector products

/// ggml type numbers of the weight types the kernels know.
enum {
    ek_type_f32 = 0, ek_type_f16 = 1, ek_type_q4_0 = 2, ek_type_q4_1 = 3, ek_type_q5_0 = 6, ek_type_q5_1 = 7,
    ek_type_q8_0 = 8, ek_type_q4_K = 12, ek_type_q5_K = 13, ek_type_q6_K = 14, ek_type_bf16 = 30,
};

/// Whether `type`'s products take the activation quantized (`ek_matvec_q8`) rather than as
/// floats (`ek_matvec_f32`); -1 for a type the kernels do not know.
int ek_type_takes_q8(int type);

/// `y[r] = row_r · x` for `rows` rows of `cols` values (a multiple of the type's block) of
/// weights of `type` stored `row_bytes` apart from `w`, with `x` quantized by
/// `ek_quantize_q8` (`cols / 32` blocks). For the quantized types; returns 0 (and writes
/// nothing) for another type, else 1.
int ek_matvec_q8(int type, const void *w, size_t row_bytes, int64_t rows, int64_t cols,
                 const int8_t *q, const float *d, const float *s, float *y);
int ek_matvec_q8_at(int level, int type, const void *w, size_t row_bytes, int64_t rows, int64_t cols,
                    const int8_t *q, const float *d, const float *s, float *y);

/// `y[r] = row_r · x` for float weights (F32, F16, BF16) and a float activation; returns 0
/// (and writes nothing) for another type, else 1.
int ek_matvec_f32(int type, const void *w, size_t row_bytes, int64_t rows, int64_t cols, const float *x, float *y);
int ek_matvec_f32_at(int level, int type, const void *w, size_t row_bytes, int64_t rows, int64_t cols,
                     const float *x, float *y);

/// Converts `count` values (a multiple of the type's block) of weights of `type` at `src` to
/// floats; returns 0 (and writes nothing) for a type the kernels do not know, else 1.
int ek_dequantize(int type, const void *src, float *dst, int64_t count);
int ek_dequantize_at(int level, int type, const void *src, float *dst, int64_t count);

// MARK: Row-interleaved tiles (Q4_0, Q4_1, Q8_0)

/// Bytes of one tile (16 rows × one block of 32 values) of `type`: the same bytes as the 16
/// blocks it holds; 0 for a type without tiles.
size_t ek_tile_bytes(int type);
/// 1 when tiles of `type` are faster than the row layout with the variant in use, for one
/// token and for batches (AVX-512 VNNI and AVX2: the three types); 0 when the row layout is
/// faster and tiles only serve to compare variants.
int ek_tiles_fast(int type);
/// 1 when the tile kernels of the variant in use read the activation of `type`'s products
/// widened by `ek_widen_q8` too (AVX2: Q8_0, by 16-bit products), else 0.
int ek_tiles_widened(int type);
int ek_tiles_widened_at(int level, int type);
/// Writes `n` values (a multiple of 32) of an activation quantized by `ek_quantize_q8`
/// (`terms` = 1: its quants) or `ek_quantize_q8_wide` (`terms` = 2: its 16-bit quants
/// 256·q₁ + q₂, the second term `term_values` after the first) as 16-bit integers, each 4 as
/// (x₀, x₂, x₁, x₃): the layout the widened tile kernels read.
void ek_widen_q8(int terms, const int8_t *q, int64_t term_values, int64_t n, int16_t *out);
void ek_widen_q8_at(int level, int terms, const int8_t *q, int64_t term_values, int64_t n, int16_t *out);
/// Rearranges `groups` × 16 rows (`nb` blocks each, `row_bytes` apart) into tiles, group by
/// group and block by block (`groups · nb · ek_tile_bytes(type)` bytes at `out`), so that the
/// kernels meet 16 rows with one load: their scales (and mins) side by side, then their quants
/// in chunks of 64 bytes whose 4-byte lane r holds four quant bytes of row r. Returns 0 for a
/// type without tiles.
int ek_tiles_pack(int type, const void *rows, size_t row_bytes, int64_t groups, int64_t nb, void *out);
/// `y[r] = row_r · x` for the `16·groups` rows of `tiles` (`cols` values each), `x` quantized by
/// `ek_quantize_q8` (`terms` = 1) or `ek_quantize_q8_wide` (`terms` = 2), and `wide` the same
/// widened by `ek_widen_q8` where `ek_tiles_widened(type)` (else it is not read: NULL will do).
void ek_tiles_matvec(int type, const void *tiles, int64_t groups, int64_t cols, int terms, const int8_t *q,
                     const float *d, const float *s, const int16_t *wide, float *y);
void ek_tiles_matvec_at(int level, int type, const void *tiles, int64_t groups, int64_t cols, int terms, const int8_t *q,
                        const float *d, const float *s, const int16_t *wide, float *y);
/// The same for `tokens` activations quantized together (`tokens × cols` values):
/// `y[t·ldy + r] = row_r · x_t`.
void ek_tiles_matmul(int type, const void *tiles, int64_t groups, int64_t cols, int64_t tokens, int terms,
                     const int8_t *q, const float *d, const float *s, const int16_t *wide, float *y, int64_t ldy);
void ek_tiles_matmul_at(int level, int type, const void *tiles, int64_t groups, int64_t cols, int64_t tokens, int terms,
                        const int8_t *q, const float *d, const float *s, const int16_t *wide, float *y, int64_t ldy);

// MARK: Vectors

/// Half-precision rows to floats and back (IEEE binary16, round to nearest even).
void ek_f16_to_f32(const uint16_t *src, float *dst, int64_t n);
void ek_f32_to_f16(const float *src, uint16_t *dst, int64_t n);
void ek_f16_to_f32_at(int level, const uint16_t *src, float *dst, int64_t n);
void ek_f32_to_f16_at(int level, const float *src, uint16_t *dst, int64_t n);

/// The attention of `heads` query heads that share keys and values (a KV head's group), over
/// `n` positions: for head h (query at `q + h·hd`, output at `out + h·hd`), scores_j =
/// scale·(q_h · key j), softmax, the weights rounded to half precision, then out_h[d] =
/// Σ_j p_j·v[j·hd + d]. The keys are transposed, `kt[d·ldk + j]` (`ek_f16_to_f32_columns`), with
/// `ldk` a multiple of 16, at least n, and `kt` readable up to the next multiple of 16 past n
/// (what lies past n is read and never used); `scores` holds `heads·ldk` floats of scratch.
/// The values are read once per tile of positions for all the heads. A head's operations and
/// their order do not depend on the batch or on the heads beside it: a token's result does not
/// depend on the tokens evaluated with it, and each head's equals its own call's with
/// `heads` = 1.
void ek_attention_heads(const float *q, int64_t heads, const float *kt, int64_t ldk, const float *v, int64_t hd, int64_t n,
                        float scale, float *scores, float *out);
void ek_attention_heads_at(int level, const float *q, int64_t heads, const float *kt, int64_t ldk, const float *v, int64_t hd,
                           int64_t n, float scale, float *scores, float *out);
/// Half-precision rows as float columns: dst[c·ldd + r] = src[r·stride + c] for r < rows,
/// c < cols (the keys of a head, transposed for `ek_attention_heads`).
void ek_f16_to_f32_columns(const uint16_t *src, int64_t stride, int64_t rows, int64_t cols, float *dst, int64_t ldd);

/// dst[i] = silu(gate[i]) · up[i], silu(g) = g / (1 + e^−g) (`dst` may be `gate` or `up`).
void ek_silu_mul(const float *gate, const float *up, float *dst, int64_t n);
void ek_silu_mul_at(int level, const float *gate, const float *up, float *dst, int64_t n);

/// RMSNorm of `rows` rows of `n`: y = x / sqrt(mean(x²) + eps) · w (`y` may be `x`), the
/// squares summed in doubles; the same bits in every variant.
void ek_rms_norm(const float *x, const float *w, float *y, int64_t rows, int64_t n, float eps);
void ek_rms_norm_at(int level, const float *x, const float *w, float *y, int64_t rows, int64_t n, float eps);

// MARK: The embedder's element-wise kernels

/// In place: x ← GELU(x) = x/2 · (1 + erf(x/√2)) over `n` floats (erf by Abramowitz & Stegun
/// 7.1.28, absolute error ≤ 3e-7).
void ek_gelu(float *x, int64_t n);
/// In place, row by row: x ← LayerNorm(x + residual) · gain + bias (two-pass mean and
/// variance); `residual` may be NULL.
void ek_layer_norm(float *x, const float *residual, const float *gain, const float *bias, int64_t rows, int64_t width,
                   float epsilon);
/// In place, for each of `rows` rows of `count` values (`stride` apart): softmax (e^x by a
/// degree-6 polynomial, relative error ≈ 2e-7).
void ek_softmax_rows(float *x, int64_t rows, int64_t count, int64_t stride);
void ek_gelu_at(int level, float *x, int64_t n);
void ek_layer_norm_at(int level, float *x, const float *residual, const float *gain, const float *bias, int64_t rows,
                      int64_t width, float epsilon);
void ek_softmax_rows_at(int level, float *x, int64_t rows, int64_t count, int64_t stride);

#ifdef __cplusplus
}
#endif

#endif
