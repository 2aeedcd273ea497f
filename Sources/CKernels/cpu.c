// Chooses the variant once (CPUID and ENGRAM_SIMD) and dispatches the public entry points.
#include <stdlib.h>
#include <string.h>

#include "variants.h"

static const char *const ek_names[] = {"portable", "avx2", "avx512", "avx512vnni"};

const char *ek_simd_name(int level) {
    return level >= 0 && level <= ek_simd_avx512vnni ? ek_names[level] : "unknown";
}

static int ek_detect_cpu_level(void) {
#if defined(__x86_64__)
    // __builtin_cpu_supports also checks that the OS saves the AVX and AVX-512 registers.
    __builtin_cpu_init();
    int level = ek_simd_portable;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = ek_simd_avx2;
    if (level == ek_simd_avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        level = ek_simd_avx512;
    if (level == ek_simd_avx512 && __builtin_cpu_supports("avx512vnni")) level = ek_simd_avx512vnni;
    return level;
#else
    return ek_simd_portable;
#endif
}

const char *ek_openblas_core_for_cpu(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return __builtin_cpu_is("amd") ? "Zen" : "Haswell";
    if (__builtin_cpu_supports("avx")) return "Sandybridge";
#endif
    return NULL;
}

int ek_simd_cpu_level(void) {
    // Read on every dispatch: detected once (every thread gets the same answer), then cached.
    static int cached = -1;
    int level = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (level < 0) {
        level = ek_detect_cpu_level();
        __atomic_store_n(&cached, level, __ATOMIC_RELAXED);
    }
    return level;
}

static int ek_choose_level(void) {
    int level = ek_simd_cpu_level();
    const char *forced = getenv("ENGRAM_SIMD");
    if (forced) {
        for (int l = 0; l <= ek_simd_avx512vnni; l++)
            if (strcmp(forced, ek_names[l]) == 0 && l < level) level = l;
    }
    return level;
}

int ek_simd_level(void) {
    // Computed at most a few times (every thread gets the same answer), then read.
    static int cached = -1;
    int level = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (level < 0) {
        level = ek_choose_level();
        __atomic_store_n(&cached, level, __ATOMIC_RELAXED);
    }
    return level;
}

/// The variant to run for a request of `level`: never above what the CPU has.
static int ek_clamp(int level) {
    const int cpu = ek_simd_cpu_level();
    return level < 0 ? 0 : level > cpu ? cpu : level;
}

#if defined(__x86_64__)
#define EK_DISPATCH(level, call)                                                                   \
    switch (ek_clamp(level)) {                                                                     \
    case ek_simd_avx512vnni: return call##_avx512vnni;                                            \
    case ek_simd_avx512: return call##_avx512;                                                    \
    case ek_simd_avx2: return call##_avx2;                                                        \
    default: return call##_portable;                                                              \
    }
#else
#define EK_DISPATCH(level, call) return call##_portable;
#endif

typedef int (*ek_matvec_q8_fn)(int, const void *, size_t, int64_t, int64_t, const int8_t *, const float *,
                               const float *, float *);
typedef int (*ek_matvec_f32_fn)(int, const void *, size_t, int64_t, int64_t, const float *, float *);
typedef void (*ek_quantize_fn)(const float *, int64_t, int8_t *, float *, float *);
typedef void (*ek_widen_fn)(const uint16_t *, float *, int64_t);
typedef void (*ek_narrow_fn)(const float *, uint16_t *, int64_t);
typedef void (*ek_gelu_fn)(float *, int64_t);
typedef void (*ek_layer_norm_fn)(float *, const float *, const float *, const float *, int64_t, int64_t, float);
typedef void (*ek_softmax_fn)(float *, int64_t, int64_t, int64_t);

static ek_matvec_q8_fn ek_matvec_q8_for(int level) { EK_DISPATCH(level, ek_matvec_q8_entry) }
static ek_matvec_f32_fn ek_matvec_f32_for(int level) { EK_DISPATCH(level, ek_matvec_f32_entry) }
static ek_quantize_fn ek_quantize_for(int level) { EK_DISPATCH(level, ek_quantize_q8_entry) }
static ek_widen_fn ek_widen_for(int level) { EK_DISPATCH(level, ek_f16_to_f32_entry) }
static ek_narrow_fn ek_narrow_for(int level) { EK_DISPATCH(level, ek_f32_to_f16_entry) }
static ek_gelu_fn ek_gelu_for(int level) { EK_DISPATCH(level, ek_gelu_entry) }
static ek_layer_norm_fn ek_layer_norm_for(int level) { EK_DISPATCH(level, ek_layer_norm_entry) }
static ek_softmax_fn ek_softmax_for(int level) { EK_DISPATCH(level, ek_softmax_rows_entry) }
typedef int (*ek_dequantize_fn)(int, const void *, float *, int64_t);
typedef void (*ek_silu_mul_fn)(const float *, const float *, float *, int64_t);
static ek_dequantize_fn ek_dequantize_for(int level) { EK_DISPATCH(level, ek_dequantize_entry) }
static ek_silu_mul_fn ek_silu_mul_for(int level) { EK_DISPATCH(level, ek_silu_mul_entry) }
typedef void (*ek_rms_norm_fn)(const float *, const float *, float *, int64_t, int64_t, float);
static ek_rms_norm_fn ek_rms_norm_for(int level) { EK_DISPATCH(level, ek_rms_norm_entry) }
typedef void (*ek_attention_heads_fn)(const float *, int64_t, const float *, int64_t, const float *, int64_t, int64_t, float,
                                      float *, float *);
static ek_attention_heads_fn ek_attention_heads_for(int level) { EK_DISPATCH(level, ek_attention_heads_entry) }
typedef int (*ek_type_predicate_fn)(int);
typedef void (*ek_tiles_matvec_fn)(int, const void *, size_t, int64_t, int64_t, int, const int8_t *, const float *,
                                   const float *, const int16_t *, float *);
typedef void (*ek_tiles_matmul_fn)(int, const void *, size_t, int64_t, int64_t, int64_t, int, const int8_t *,
                                   const float *, const float *, const int16_t *, float *, int64_t);
typedef void (*ek_widen_q8_fn)(int, const int8_t *, int64_t, int64_t, int16_t *);
typedef void (*ek_quantize_wide_fn)(const float *, int64_t, int64_t, int8_t *, float *, float *);
static ek_quantize_wide_fn ek_quantize_wide_for(int level) { EK_DISPATCH(level, ek_quantize_q8_wide_entry) }
static ek_type_predicate_fn ek_tiles_fast_for(int level) { EK_DISPATCH(level, ek_tiles_fast_entry) }
static ek_type_predicate_fn ek_tiles_widened_for(int level) { EK_DISPATCH(level, ek_tiles_widened_entry) }
static ek_widen_q8_fn ek_widen_q8_for(int level) { EK_DISPATCH(level, ek_widen_q8_entry) }
static ek_tiles_matvec_fn ek_tiles_matvec_for(int level) { EK_DISPATCH(level, ek_tiles_matvec_entry) }
static ek_tiles_matmul_fn ek_tiles_matmul_for(int level) { EK_DISPATCH(level, ek_tiles_matmul_entry) }

int ek_type_takes_q8(int type) {
    switch (type) {
    case ek_type_q4_0: case ek_type_q4_1: case ek_type_q5_0: case ek_type_q5_1: case ek_type_q8_0:
    case ek_type_q4_K: case ek_type_q5_K: case ek_type_q6_K:
        return 1;
    case ek_type_f32: case ek_type_f16: case ek_type_bf16:
        return 0;
    default:
        return -1;
    }
}

void ek_quantize_q8_at(int level, const float *x, int64_t n, int8_t *q, float *d, float *s) {
    ek_quantize_for(level)(x, n, q, d, s);
}
void ek_quantize_q8(const float *x, int64_t n, int8_t *q, float *d, float *s) {
    ek_quantize_q8_at(ek_simd_level(), x, n, q, d, s);
}

int ek_matvec_q8_at(int level, int type, const void *w, size_t row_bytes, int64_t rows, int64_t cols,
                    const int8_t *q, const float *d, const float *s, float *y) {
    return ek_matvec_q8_for(level)(type, w, row_bytes, rows, cols, q, d, s, y);
}
int ek_matvec_q8(int type, const void *w, size_t row_bytes, int64_t rows, int64_t cols, const int8_t *q,
                 const float *d, const float *s, float *y) {
    return ek_matvec_q8_at(ek_simd_level(), type, w, row_bytes, rows, cols, q, d, s, y);
}

int ek_matvec_f32_at(int level, int type, const void *w, size_t row_bytes, int64_t rows, int64_t cols,
                     const float *x, float *y) {
    return ek_matvec_f32_for(level)(type, w, row_bytes, rows, cols, x, y);
}
int ek_matvec_f32(int type, const void *w, size_t row_bytes, int64_t rows, int64_t cols, const float *x, float *y) {
    return ek_matvec_f32_at(ek_simd_level(), type, w, row_bytes, rows, cols, x, y);
}


void ek_f16_to_f32_at(int level, const uint16_t *src, float *dst, int64_t n) { ek_widen_for(level)(src, dst, n); }
void ek_f16_to_f32(const uint16_t *src, float *dst, int64_t n) { ek_f16_to_f32_at(ek_simd_level(), src, dst, n); }

void ek_f32_to_f16_at(int level, const float *src, uint16_t *dst, int64_t n) { ek_narrow_for(level)(src, dst, n); }
void ek_f32_to_f16(const float *src, uint16_t *dst, int64_t n) { ek_f32_to_f16_at(ek_simd_level(), src, dst, n); }

void ek_gelu_at(int level, float *x, int64_t n) { ek_gelu_for(level)(x, n); }
void ek_gelu(float *x, int64_t n) { ek_gelu_at(ek_simd_level(), x, n); }

void ek_layer_norm_at(int level, float *x, const float *residual, const float *gain, const float *bias, int64_t rows,
                      int64_t width, float epsilon) {
    ek_layer_norm_for(level)(x, residual, gain, bias, rows, width, epsilon);
}
void ek_layer_norm(float *x, const float *residual, const float *gain, const float *bias, int64_t rows, int64_t width,
                   float epsilon) {
    ek_layer_norm_at(ek_simd_level(), x, residual, gain, bias, rows, width, epsilon);
}

void ek_softmax_rows_at(int level, float *x, int64_t rows, int64_t count, int64_t stride) {
    ek_softmax_for(level)(x, rows, count, stride);
}
void ek_softmax_rows(float *x, int64_t rows, int64_t count, int64_t stride) {
    ek_softmax_rows_at(ek_simd_level(), x, rows, count, stride);
}

int ek_dequantize_at(int level, int type, const void *src, float *dst, int64_t count) {
    return ek_dequantize_for(level)(type, src, dst, count);
}
int ek_dequantize(int type, const void *src, float *dst, int64_t count) {
    return ek_dequantize_at(ek_simd_level(), type, src, dst, count);
}

void ek_silu_mul_at(int level, const float *gate, const float *up, float *dst, int64_t n) { ek_silu_mul_for(level)(gate, up, dst, n); }
void ek_silu_mul(const float *gate, const float *up, float *dst, int64_t n) { ek_silu_mul_at(ek_simd_level(), gate, up, dst, n); }

void ek_rms_norm_at(int level, const float *x, const float *w, float *y, int64_t rows, int64_t n, float eps) {
    ek_rms_norm_for(level)(x, w, y, rows, n, eps);
}
void ek_rms_norm(const float *x, const float *w, float *y, int64_t rows, int64_t n, float eps) {
    ek_rms_norm_at(ek_simd_level(), x, w, y, rows, n, eps);
}

/// Where a tile keeps what a row block keeps (see tiles.h): the block's bytes in the file, its
/// quants' offset there and their count, their offset in the tile, and the tile's size.
struct ek_tile_layout {
    size_t block_bytes, source_quants, quant_bytes, quants_at, tile_bytes;
};

static struct ek_tile_layout ek_tile_layout(int type) {
    switch (type) {
    case ek_type_q4_0: return (struct ek_tile_layout){18, 2, 16, 32, 32 + 256};
    case ek_type_q4_1: return (struct ek_tile_layout){20, 4, 16, 64, 64 + 256};
    case ek_type_q8_0: return (struct ek_tile_layout){34, 2, 32, 32, 32 + 512};
    default: return (struct ek_tile_layout){0, 0, 0, 0, 0};
    }
}

size_t ek_tile_bytes(int type) { return ek_tile_layout(type).tile_bytes; }

int ek_tiles_fast(int type) { return ek_tile_bytes(type) ? ek_tiles_fast_for(ek_simd_level())(type) : 0; }

int ek_tiles_widened_at(int level, int type) { return ek_tile_bytes(type) ? ek_tiles_widened_for(level)(type) : 0; }
int ek_tiles_widened(int type) { return ek_tiles_widened_at(ek_simd_level(), type); }

void ek_widen_q8_at(int level, int terms, const int8_t *q, int64_t term_values, int64_t n, int16_t *out) {
    ek_widen_q8_for(level)(terms, q, term_values, n, out);
}
void ek_widen_q8(int terms, const int8_t *q, int64_t term_values, int64_t n, int16_t *out) {
    ek_widen_q8_at(ek_simd_level(), terms, q, term_values, n, out);
}

int ek_tiles_pack(int type, const void *rows, size_t row_bytes, int64_t groups, int64_t nb, void *out) {
    const struct ek_tile_layout l = ek_tile_layout(type);
    if (!l.tile_bytes) return 0;
    const uint8_t *src = (const uint8_t *)rows;
    uint8_t *dst = (uint8_t *)out;
    for (int64_t g = 0; g < groups; g++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *t = dst + (size_t)(g * nb + b) * l.tile_bytes;
            for (int r = 0; r < 16; r++) {
                const uint8_t *block = src + (size_t)(16 * g + r) * row_bytes + (size_t)b * l.block_bytes;
                memcpy(t + 2 * r, block, 2);                                  // d
                if (type == ek_type_q4_1) memcpy(t + 32 + 2 * r, block + 2, 2); // m
                for (size_t c = 0; c < l.quant_bytes / 4; c++)
                    memcpy(t + l.quants_at + 64 * c + 4 * r, block + l.source_quants + 4 * c, 4);
            }
        }
    return 1;
}

void ek_quantize_q8_wide_at(int level, const float *x, int64_t n, int64_t term_values, int8_t *q, float *d, float *s) {
    ek_quantize_wide_for(level)(x, n, term_values, q, d, s);
}
void ek_quantize_q8_wide(const float *x, int64_t n, int64_t term_values, int8_t *q, float *d, float *s) {
    ek_quantize_q8_wide_at(ek_simd_level(), x, n, term_values, q, d, s);
}

void ek_tiles_matvec_at(int level, int type, const void *tiles, int64_t groups, int64_t cols, int terms, const int8_t *q,
                        const float *d, const float *s, const int16_t *wide, float *y) {
    ek_tiles_matvec_for(level)(type, tiles, ek_tile_bytes(type), groups, cols / 32, terms, q, d, s, wide, y);
}
void ek_tiles_matvec(int type, const void *tiles, int64_t groups, int64_t cols, int terms, const int8_t *q,
                     const float *d, const float *s, const int16_t *wide, float *y) {
    ek_tiles_matvec_at(ek_simd_level(), type, tiles, groups, cols, terms, q, d, s, wide, y);
}

void ek_tiles_matmul_at(int level, int type, const void *tiles, int64_t groups, int64_t cols, int64_t tokens, int terms,
                        const int8_t *q, const float *d, const float *s, const int16_t *wide, float *y, int64_t ldy) {
    ek_tiles_matmul_for(level)(type, tiles, ek_tile_bytes(type), groups, cols / 32, tokens, terms, q, d, s, wide, y, ldy);
}
void ek_tiles_matmul(int type, const void *tiles, int64_t groups, int64_t cols, int64_t tokens, int terms,
                     const int8_t *q, const float *d, const float *s, const int16_t *wide, float *y, int64_t ldy) {
    ek_tiles_matmul_at(ek_simd_level(), type, tiles, groups, cols, tokens, terms, q, d, s, wide, y, ldy);
}

void ek_attention_heads_at(int level, const float *q, int64_t heads, const float *kt, int64_t ldk, const float *v, int64_t hd,
                           int64_t n, float scale, float *scores, float *out) {
    ek_attention_heads_for(level)(q, heads, kt, ldk, v, hd, n, scale, scores, out);
}
void ek_attention_heads(const float *q, int64_t heads, const float *kt, int64_t ldk, const float *v, int64_t hd, int64_t n,
                        float scale, float *scores, float *out) {
    ek_attention_heads_at(ek_simd_level(), q, heads, kt, ldk, v, hd, n, scale, scores, out);
}

void ek_f16_to_f32_columns(const uint16_t *src, int64_t stride, int64_t rows, int64_t cols, float *dst, int64_t ldd) {
    // A row widened by the variant in use, then written down its column.
    enum { chunk = 256 };
    float row[chunk];
    for (int64_t c0 = 0; c0 < cols; c0 += chunk) {
        const int64_t m = cols - c0 < chunk ? cols - c0 : chunk;
        for (int64_t r = 0; r < rows; r++) {
            ek_f16_to_f32(src + r * stride + c0, row, m);
            for (int64_t c = 0; c < m; c++) dst[(c0 + c) * ldd + r] = row[c];
        }
    }
}
