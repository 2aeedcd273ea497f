// The kernels written once in portable C, included by each variant's file: that file's
// `#pragma clang attribute` gives every function here its instruction set, so the compiler
// vectorizes the same source for SSE2, AVX2 or AVX-512. Integer sums are exact in any order;
// float sums use EK_VW-lane vector accumulators (explicit, since without fast-math the
// compiler keeps a scalar float sum in order).
//
// Expects: EK_FN(name) (the variant's suffix), EK_VW (float lanes: 8 or 16), and the system
// headers <math.h>, <string.h>, <stdint.h> included before the pragma.
#include "ckernels.h"

typedef float ek_vf __attribute__((vector_size(4 * EK_VW), aligned(4)));

/// Each variant's half → float rows (F16C where the variant has it).
static void EK_FN(f16_to_f32)(const uint16_t *src, float *dst, int64_t n);

static inline uint32_t ek_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float ek_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/// IEEE binary16 → binary32, exact (normals, subnormals, infinities, NaN).
static inline float ek_half_to_float(uint16_t h) {
    const uint32_t w = (uint32_t)h << 16, sign = w & 0x80000000u, two_w = w + w;
    // Normal and infinite/NaN: move the exponent and mantissa in place and rescale by 2^-112.
    const float normal = ek_float((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
    // Subnormal: the mantissa as the low bits of 0.5's mantissa, minus 0.5.
    const float subnormal = ek_float((two_w >> 17) | (126u << 23)) - 0.5f;
    return ek_float(sign | ek_bits(two_w < (1u << 27) ? subnormal : normal));
}

/// IEEE binary32 → binary16, rounded to nearest even; overflow gives ±∞, NaN a quiet NaN.
static inline uint16_t ek_float_to_half(float f) {
    // Scaling by 2^112 then 2^-110 makes the hardware round the mantissa at binary16's
    // precision (and overflow to ∞ where binary16 would).
    float base = (fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
    const uint32_t w = ek_bits(f), shl1_w = w + w, sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = ek_float((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = ek_bits(base);
    const uint32_t nonsign = ((bits >> 13) & 0x00007C00u) + (bits & 0x00000FFFu);
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline float ek_load_half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return ek_half_to_float(h);
}

static inline __attribute__((always_inline)) float ek_hsum(ek_vf v) {
    float s = 0;
    for (int i = 0; i < EK_VW; i++) s += v[i];
    return s;
}

static inline __attribute__((always_inline)) ek_vf ek_loadv(const float *p) {
    ek_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

// MARK: Quantization

/// The largest |x| of a block of 32, and whether it holds a NaN or ±∞.
static inline __attribute__((always_inline)) float ek_block_amax(const float *xb, int *nonfinite) {
    float amax = 0;
    uint32_t bad = 0;
    for (int j = 0; j < 32; j++) {
        const float a = fabsf(xb[j]);
        amax = a > amax ? a : amax;
        bad |= (ek_bits(xb[j]) & 0x7F800000u) == 0x7F800000u;
    }
    *nonfinite = bad != 0;
    return amax;
}

/// One block of 32: see ek_quantize_q8.
static inline __attribute__((always_inline)) void ek_quantize_block(const float *xb, int8_t *q, float *d, float *s) {
    int nonfinite;
    const float amax = ek_block_amax(xb, &nonfinite);
    const float scale = amax / 127;
    const int scaled = !nonfinite && scale >= 0x1.0p-126f;
    // As ggml quantizes: x·(127/max|x|), rounded to nearest even.
    const float inv = scaled ? 127 / amax : 0;
    int32_t sum = 0;
    for (int j = 0; j < 32; j++) {
        // (Non-finite blocks multiply by nothing: a NaN must never reach the conversion.)
        const float r = rintf(scaled ? xb[j] * inv : 0.0f);
        q[j] = (int8_t)r;
        sum += (int32_t)r;
    }
    // The scale is kept at half precision, as ggml's Q8_0/Q8_1 blocks keep it: the products
    // then round as llama.cpp's do (the reference the engine is held to).
    const float kept = ek_half_to_float(ek_float_to_half(scale));
    *d = nonfinite ? NAN : (scaled ? kept : 0);
    *s = nonfinite ? NAN : *d * (float)sum;
}

static __attribute__((unused)) void EK_FN(quantize_q8)(const float *x, int64_t n, int8_t *q, float *d, float *s) {
    for (int64_t b = 0; b < n / 32; b++) ek_quantize_block(x + 32 * b, q + 32 * b, d + b, s + b);
}

/// Q = 256·hi + lo, hi rounded (ties up) so that lo ∈ [−128, 127].
static inline void ek_split_wide(int32_t wide, int8_t *hi, int8_t *lo) {
    const int32_t h = (wide + 128) >> 8; // an arithmetic shift: the floor
    *hi = (int8_t)h;
    *lo = (int8_t)(wide - 256 * h);
}

/// The largest 16-bit quant of a two-term block (127 · 256: its high byte stays within ±127).
#define EK_WIDE_MAX 32512

/// A two-term block's step, max|x| / EK_WIDE_MAX; `*scaled` is 0 (zeros for the block) when the
/// block is not finite or the step would be subnormal.
static inline float ek_wide_step(float amax, int nonfinite, int *scaled) {
    const float step = nonfinite ? 0 : amax / EK_WIDE_MAX;
    *scaled = !nonfinite && step >= 0x1.0p-126f;
    return step;
}

/// Block b's scales and sums (see ek_quantize_q8_wide), from the sum of its high bytes and that
/// of its 16-bit quants.
static inline void ek_wide_scales(float step, int nonfinite, int scaled, int32_t high, int32_t sum, int64_t b,
                                  int64_t term_blocks, float *d, float *s) {
    const float dw = nonfinite ? NAN : (scaled ? step : 0);
    d[b] = 256 * dw;
    s[b] = d[b] * (float)high;
    d[term_blocks + b] = dw;
    s[term_blocks + b] = dw * (float)sum;
}

static __attribute__((unused)) void EK_FN(quantize_q8_wide)(const float *x, int64_t n, int64_t term_values, int8_t *q,
                                                             float *d, float *s) {
    const int64_t nb = n / 32, term_blocks = term_values / 32;
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + 32 * b;
        int nonfinite, scaled;
        const float amax = ek_block_amax(xb, &nonfinite);
        const float step = ek_wide_step(amax, nonfinite, &scaled);
        const float inv = scaled ? EK_WIDE_MAX / amax : 0;
        int32_t sum = 0, high = 0;
        for (int j = 0; j < 32; j++) {
            const int32_t wide = (int32_t)rintf(scaled ? xb[j] * inv : 0.0f);
            ek_split_wide(wide, q + 32 * b + j, q + term_values + 32 * b + j);
            sum += wide;
            high += q[32 * b + j];
        }
        ek_wide_scales(step, nonfinite, scaled, high, sum, b, term_blocks, d, s);
    }
}

// MARK: Row dot products with a quantized activation (generic: every type)

/// Q4_0: Σ_b d_w·(d_x·Σ u·q_x − 8·s_x), u the unsigned nibble.
static inline float EK_FN(row_q4_0_g)(const uint8_t *row, int64_t nb, const int8_t *q, const float *d, const float *s) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 18 * b, *qs = p + 2;
        const int8_t *x = q + 32 * b;
        int32_t sum = 0;
        for (int j = 0; j < 16; j++) sum += (qs[j] & 15) * x[j] + (qs[j] >> 4) * x[j + 16];
        acc += ek_load_half(p) * (d[b] * (float)sum - 8 * s[b]);
    }
    return acc;
}

/// Q4_1: Σ_b d_w·d_x·Σ u·q_x + m_w·s_x.
static inline float EK_FN(row_q4_1_g)(const uint8_t *row, int64_t nb, const int8_t *q, const float *d, const float *s) {
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 20 * b, *qs = p + 4;
        const int8_t *x = q + 32 * b;
        int32_t sum = 0;
        for (int j = 0; j < 16; j++) sum += (qs[j] & 15) * x[j] + (qs[j] >> 4) * x[j + 16];
        acc += ek_load_half(p) * d[b] * (float)sum + ek_load_half(p + 2) * s[b];
    }
    return acc;
}

/// The five bits of value j of a Q5 block: nibble | bit j of qh << 4.
static inline int32_t ek_q5_sum(const uint8_t *qs, uint32_t qh, const int8_t *x) {
    int32_t sum = 0;
    for (int j = 0; j < 16; j++) {
        const int32_t lo = (qs[j] & 15) | (int32_t)((qh >> j) & 1) << 4;
        const int32_t hi = (qs[j] >> 4) | (int32_t)((qh >> (j + 16)) & 1) << 4;
        sum += lo * x[j] + hi * x[j + 16];
    }
    return sum;
}

/// Q5_0 (22-byte blocks: d, qh, nibbles): Σ_b d_w·(d_x·Σ u·q_x − 16·s_x); Q5_1 (24 bytes:
/// d, m, qh, nibbles): Σ_b d_w·d_x·Σ u·q_x + m_w·s_x.
static inline __attribute__((always_inline)) float ek_row_q5(const uint8_t *row, int64_t nb, const int8_t *q,
                                                              const float *d, const float *s, const int has_min) {
    float acc = 0;
    const int64_t block_bytes = has_min ? 24 : 22, qh_at = has_min ? 4 : 2;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + block_bytes * b;
        uint32_t qh;
        memcpy(&qh, p + qh_at, 4);
        const float sum = (float)ek_q5_sum(p + qh_at + 4, qh, q + 32 * b);
        acc += has_min ? ek_load_half(p) * d[b] * sum + ek_load_half(p + 2) * s[b]
                       : ek_load_half(p) * (d[b] * sum - 16 * s[b]);
    }
    return acc;
}

static inline float EK_FN(row_q5_0_g)(const uint8_t *row, int64_t nb, const int8_t *q, const float *d, const float *s) {
    return ek_row_q5(row, nb, q, d, s, 0);
}

static inline float EK_FN(row_q5_1_g)(const uint8_t *row, int64_t nb, const int8_t *q, const float *d, const float *s) {
    return ek_row_q5(row, nb, q, d, s, 1);
}

/// Q8_0: Σ_b d_w·d_x·Σ q_w·q_x.
static inline float EK_FN(row_q8_0_g)(const uint8_t *row, int64_t nb, const int8_t *q, const float *d, const float *s) {
    (void)s;
    float acc = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = row + 34 * b;
        const int8_t *w = (const int8_t *)(p + 2), *x = q + 32 * b;
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) sum += w[j] * x[j];
        acc += ek_load_half(p) * d[b] * (float)sum;
    }
    return acc;
}

/// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block, from its 12 scale bytes.
static inline void ek_k_scale_min(const uint8_t *sc, int j, float *scale, float *min) {
    if (j < 4) {
        *scale = (float)(sc[j] & 63);
        *min = (float)(sc[j + 4] & 63);
    } else {
        *scale = (float)((sc[j + 4] & 15) | ((sc[j - 4] >> 6) << 4));
        *min = (float)((sc[j + 4] >> 4) | ((sc[j] >> 6) << 4));
    }
}

/// Q4_K (256 values: d, dmin, 12 scale bytes, 128 nibble bytes) and Q5_K (the same with 32
/// high-bit bytes before the nibbles): per sub-block j of 32,
/// d·sc_j·d_x·Σ u·q_x − dmin·m_j·s_x.
static inline __attribute__((always_inline)) float ek_row_k45(const uint8_t *row, int64_t nb32, const int8_t *q,
                                                               const float *d, const float *s, const int five) {
    float acc = 0;
    const int64_t block_bytes = five ? 176 : 144;
    for (int64_t blk = 0; blk < nb32 / 8; blk++) {
        const uint8_t *p = row + block_bytes * blk, *scales = p + 4, *qh = p + 16;
        const float dw = ek_load_half(p), dmin = ek_load_half(p + 2);
        for (int c = 0; c < 4; c++) {
            const uint8_t *qs = p + (five ? 48 : 16) + 32 * c;
            const int64_t b0 = 8 * blk + 2 * c, b1 = b0 + 1;
            const int8_t *x0 = q + 32 * b0, *x1 = q + 32 * b1;
            int32_t lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                const int h0 = five ? ((qh[l] >> (2 * c)) & 1) << 4 : 0, h1 = five ? ((qh[l] >> (2 * c + 1)) & 1) << 4 : 0;
                lo += ((qs[l] & 15) | h0) * x0[l];
                hi += ((qs[l] >> 4) | h1) * x1[l];
            }
            float sc0, m0, sc1, m1;
            ek_k_scale_min(scales, 2 * c, &sc0, &m0);
            ek_k_scale_min(scales, 2 * c + 1, &sc1, &m1);
            acc += dw * (sc0 * d[b0] * (float)lo + sc1 * d[b1] * (float)hi) - dmin * (m0 * s[b0] + m1 * s[b1]);
        }
    }
    return acc;
}

static inline float EK_FN(row_q4_K_g)(const uint8_t *row, int64_t nb32, const int8_t *q, const float *d, const float *s) {
    return ek_row_k45(row, nb32, q, d, s, 0);
}

static inline float EK_FN(row_q5_K_g)(const uint8_t *row, int64_t nb32, const int8_t *q, const float *d, const float *s) {
    return ek_row_k45(row, nb32, q, d, s, 1);
}

/// Q6_K (256 values: 128 low-nibble bytes, 64 high-bit bytes, 16 signed scales, d): values
/// (q − 32)·d·scale, a scale per 16 values.
static inline float EK_FN(row_q6_K_g)(const uint8_t *row, int64_t nb32, const int8_t *q, const float *d, const float *s) {
    (void)s;
    float acc = 0;
    for (int64_t blk = 0; blk < nb32 / 8; blk++) {
        const uint8_t *p = row + 210 * blk;
        const float dw = ek_load_half(p + 208);
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = p + 64 * half, *qh = p + 128 + 32 * half;
            const int8_t *sc = (const int8_t *)(p + 192 + 8 * half);
            const int64_t b = 8 * blk + 4 * half;
            int32_t sums[8] = {0};
            for (int i = 0; i < 4; i++) {
                const int8_t *x = q + 32 * (b + i);
                const uint8_t *lo = ql + (i & 1) * 32;
                const int nibble = (i >> 1) * 4, high = 2 * i;
                for (int h = 0; h < 2; h++) {
                    int32_t sum = 0;
                    for (int l = 16 * h; l < 16 * h + 16; l++) {
                        const int32_t v = ((lo[l] >> nibble) & 15) | ((qh[l] >> high) & 3) << 4;
                        sum += (v - 32) * x[l];
                    }
                    sums[2 * i + h] = sum;
                }
            }
            for (int i = 0; i < 4; i++)
                acc += dw * d[b + i] * ((float)sc[2 * i] * (float)sums[2 * i] + (float)sc[2 * i + 1] * (float)sums[2 * i + 1]);
        }
    }
    return acc;
}

// MARK: Float vectors

static float EK_FN(dot)(const float *a, const float *b, int64_t n) {
    ek_vf acc0 = {0}, acc1 = {0};
    int64_t i = 0;
    for (; i + 2 * EK_VW <= n; i += 2 * EK_VW) {
        acc0 += ek_loadv(a + i) * ek_loadv(b + i);
        acc1 += ek_loadv(a + i + EK_VW) * ek_loadv(b + i + EK_VW);
    }
    for (; i + EK_VW <= n; i += EK_VW) acc0 += ek_loadv(a + i) * ek_loadv(b + i);
    float sum = ek_hsum(acc0 + acc1);
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static void EK_FN(f16_to_f32_g)(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = ek_half_to_float(src[i]);
}

static void EK_FN(f32_to_f16_g)(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = ek_float_to_half(src[i]);
}

/// A float-weight row (F32, F16 or BF16) · x, EK_VW lanes at a time.
static inline float EK_FN(row_float_g)(int type, const uint8_t *row, const float *x, int64_t cols) {
    if (type == ek_type_f32) return EK_FN(dot)((const float *)(const void *)row, x, cols);
    float buf[64];
    ek_vf acc = {0};
    float tail = 0;
    for (int64_t i = 0; i < cols; i += 64) {
        const int64_t m = cols - i < 64 ? cols - i : 64;
        if (type == ek_type_f16) {
            EK_FN(f16_to_f32)((const uint16_t *)(const void *)(row + 2 * i), buf, m);
        } else {
            for (int64_t j = 0; j < m; j++) {
                uint16_t h;
                memcpy(&h, row + 2 * (i + j), 2);
                buf[j] = ek_float((uint32_t)h << 16);
            }
        }
        int64_t j = 0;
        for (; j + EK_VW <= m; j += EK_VW) acc += ek_loadv(buf + j) * ek_loadv(x + i + j);
        for (; j < m; j++) tail += buf[j] * x[i + j];
    }
    return ek_hsum(acc) + tail;
}

// MARK: Element-wise kernels of the embedder (written as scalar loops: the compiler
// vectorizes them for each variant's instruction set)

/// e^x: Cody–Waite range reduction to r = x − n·ln2, a degree-6 polynomial for e^r, then
/// scaling by 2^n through the exponent bits. Relative error ≈ 2e-7 on [−87, 88]; inputs are
/// clamped to that range (so e^−∞ gives ≈1e-38, not 0).
static inline float ek_exp(float x) {
    const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    // Adding 1.5·2^23 rounds to the nearest integer and leaves it in the low mantissa bits.
    const float magic = 12582912.0f;
    const float t = xc * 1.44269504f + magic;
    const float n = t - magic;
    const float r = xc - n * 0.693359375f + n * 2.1219444e-4f;
    float p = 1.98756915e-4f;
    p = p * r + 1.39819995e-3f;
    p = p * r + 8.3334519e-3f;
    p = p * r + 4.16657959e-2f;
    p = p * r + 1.66666655e-1f;
    p = p * r + 5.00000012e-1f;
    p = p * (r * r) + r + 1.0f;
    const int32_t ni = (int32_t)ek_bits(t) - 0x4B400000;
    return p * ek_float((uint32_t)(ni + 127) << 23);
}

/// erf(x), Abramowitz & Stegun 7.1.28: 1 − (1 + a₁x + … + a₆x⁶)⁻¹⁶ for x ≥ 0, odd symmetry;
/// absolute error ≤ 3e-7. For large |x| the power overflows to +∞ and the result is ±1.
static inline float ek_erf(float x) {
    const float a = fabsf(x);
    float p = 0.0000430638f;
    p = p * a + 0.0002765672f;
    p = p * a + 0.0001520143f;
    p = p * a + 0.0092705272f;
    p = p * a + 0.0422820123f;
    p = p * a + 0.0705230784f;
    p = p * a + 1.0f;
    p = p * p;
    p = p * p;
    p = p * p;
    p = p * p;
    const float e = 1.0f - 1.0f / p;
    return x < 0 ? -e : e;
}

static void EK_FN(gelu)(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + ek_erf(v * 0.70710678118654752f));
    }
}

static void EK_FN(layer_norm)(float *x, const float *residual, const float *gain, const float *bias, int64_t rows,
                              int64_t width, float epsilon) {
    const float inverse_width = 1.0f / (float)width;
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * width;
        if (residual) {
            const float *res = residual + r * width;
            for (int64_t j = 0; j < width; j++) row[j] += res[j];
        }
        ek_vf sum = {0};
        int64_t j = 0;
        for (; j + EK_VW <= width; j += EK_VW) sum += ek_loadv(row + j);
        float mean = ek_hsum(sum);
        for (; j < width; j++) mean += row[j];
        mean *= inverse_width;
        ek_vf squares = {0};
        for (j = 0; j + EK_VW <= width; j += EK_VW) {
            const ek_vf d = ek_loadv(row + j) - mean;
            squares += d * d;
        }
        float variance = ek_hsum(squares);
        for (; j < width; j++) variance += (row[j] - mean) * (row[j] - mean);
        const float inverse_std = 1.0f / sqrtf(variance * inverse_width + epsilon);
        for (j = 0; j < width; j++) row[j] = (row[j] - mean) * inverse_std * gain[j] + bias[j];
    }
}

/// The largest of `count` floats, EK_VW lanes at a time (the scalar loop's compare-and-select
/// does not vectorize: it took 70% of the softmax). A NaN is passed over as the comparison
/// passes it over; the softmaxes' exponentials do not depend on the sign of a zero maximum.
static inline float ek_row_max(const float *row, int64_t count) {
    ek_vf mv;
    for (int i = 0; i < EK_VW; i++) mv[i] = -INFINITY;
    int64_t j = 0;
    for (; j + EK_VW <= count; j += EK_VW) mv = __builtin_elementwise_max(mv, ek_loadv(row + j));
    float m = -INFINITY;
    for (int i = 0; i < EK_VW; i++) m = mv[i] > m ? mv[i] : m;
    for (; j < count; j++) m = row[j] > m ? row[j] : m;
    return m;
}

/// Softmax of one row in place, each weight rounded to half precision when `to_half` (the
/// attention weights, which meet the F16 values as llama.cpp's do): the exponentials summed as
/// they are made, EK_VW lanes at a time, the rounding done in the pass that scales.
static inline __attribute__((always_inline)) void ek_softmax_row(float *row, int64_t count, const int to_half) {
    const float m = ek_row_max(row, count);
    int64_t j;
    ek_vf sum = {0};
    for (j = 0; j + EK_VW <= count; j += EK_VW) {
        float e[EK_VW];
        for (int k = 0; k < EK_VW; k++) e[k] = ek_exp(row[j + k] - m);
        memcpy(row + j, e, sizeof e);
        sum += ek_loadv(e);
    }
    float total = ek_hsum(sum);
    for (; j < count; j++) {
        row[j] = ek_exp(row[j] - m);
        total += row[j];
    }
    const float inverse = 1.0f / total;
    if (to_half)
        for (j = 0; j < count; j++) row[j] = ek_half_to_float(ek_float_to_half(row[j] * inverse));
    else
        for (j = 0; j < count; j++) row[j] *= inverse;
}

static void EK_FN(softmax_rows)(float *x, int64_t rows, int64_t count, int64_t stride) {
    for (int64_t r = 0; r < rows; r++) ek_softmax_row(x + r * stride, count, 0);
}

// MARK: Dequantization (rows to floats, for the batched products of prefill)

static int EK_FN(dequantize)(int type, const uint8_t *src, float *dst, int64_t count) {
    switch (type) {
    case ek_type_f32: memcpy(dst, src, (size_t)count * 4); return 1;
    case ek_type_f16: EK_FN(f16_to_f32)((const uint16_t *)(const void *)src, dst, count); return 1;
    case ek_type_bf16:
        for (int64_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = ek_float((uint32_t)h << 16);
        }
        return 1;
    case ek_type_q4_0:
        for (int64_t b = 0; b < count / 32; b++) {
            const uint8_t *p = src + 18 * b, *qs = p + 2;
            float *y = dst + 32 * b;
            const float d = ek_load_half(p);
            for (int j = 0; j < 16; j++) {
                y[j] = (float)((qs[j] & 15) - 8) * d;
                y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
            }
        }
        return 1;
    case ek_type_q4_1:
        for (int64_t b = 0; b < count / 32; b++) {
            const uint8_t *p = src + 20 * b, *qs = p + 4;
            float *y = dst + 32 * b;
            const float d = ek_load_half(p), m = ek_load_half(p + 2);
            for (int j = 0; j < 16; j++) {
                y[j] = (float)(qs[j] & 15) * d + m;
                y[j + 16] = (float)(qs[j] >> 4) * d + m;
            }
        }
        return 1;
    case ek_type_q5_0:
    case ek_type_q5_1: {
        const int q51 = type == ek_type_q5_1, bb = q51 ? 24 : 22;
        for (int64_t b = 0; b < count / 32; b++) {
            const uint8_t *p = src + bb * b, *qs = p + (q51 ? 8 : 6);
            float *y = dst + 32 * b;
            const float d = ek_load_half(p), m = q51 ? ek_load_half(p + 2) : -16 * d;
            uint32_t qh;
            memcpy(&qh, p + (q51 ? 4 : 2), 4);
            for (int j = 0; j < 16; j++) {
                y[j] = (float)((qs[j] & 15) | ((qh >> j) & 1) << 4) * d + m;
                y[j + 16] = (float)((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) * d + m;
            }
        }
        return 1;
    }
    case ek_type_q8_0:
        for (int64_t b = 0; b < count / 32; b++) {
            const uint8_t *p = src + 34 * b;
            const int8_t *qs = (const int8_t *)(p + 2);
            float *y = dst + 32 * b;
            const float d = ek_load_half(p);
            for (int j = 0; j < 32; j++) y[j] = (float)qs[j] * d;
        }
        return 1;
    case ek_type_q4_K:
    case ek_type_q5_K: {
        const int five = type == ek_type_q5_K, bb = five ? 176 : 144;
        for (int64_t b = 0; b < count / 256; b++) {
            const uint8_t *p = src + bb * b, *scales = p + 4, *qh = p + 16, *qs = p + (five ? 48 : 16);
            float *y = dst + 256 * b;
            const float d = ek_load_half(p), dmin = ek_load_half(p + 2);
            for (int c = 0; c < 4; c++) {
                float sc0, m0, sc1, m1;
                ek_k_scale_min(scales, 2 * c, &sc0, &m0);
                ek_k_scale_min(scales, 2 * c + 1, &sc1, &m1);
                const float d0 = d * sc0, o0 = dmin * m0, d1 = d * sc1, o1 = dmin * m1;
                for (int l = 0; l < 32; l++) {
                    const int h0 = five ? ((qh[l] >> (2 * c)) & 1) << 4 : 0;
                    const int h1 = five ? ((qh[l] >> (2 * c + 1)) & 1) << 4 : 0;
                    y[64 * c + l] = d0 * (float)((qs[32 * c + l] & 15) | h0) - o0;
                    y[64 * c + 32 + l] = d1 * (float)((qs[32 * c + l] >> 4) | h1) - o1;
                }
            }
        }
        return 1;
    }
    case ek_type_q6_K:
        for (int64_t b = 0; b < count / 256; b++) {
            const uint8_t *p = src + 210 * b;
            const float d = ek_load_half(p + 208);
            for (int half = 0; half < 2; half++) {
                const uint8_t *ql = p + 64 * half, *qh = p + 128 + 32 * half;
                const int8_t *sc = (const int8_t *)(p + 192 + 8 * half);
                float *y = dst + 256 * b + 128 * half;
                for (int l = 0; l < 32; l++) {
                    const int is = l / 16;
                    y[l] = d * (float)sc[is] * (float)(((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32);
                    y[l + 32] = d * (float)sc[is + 2] * (float)(((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32);
                    y[l + 64] = d * (float)sc[is + 4] * (float)(((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
                    y[l + 96] = d * (float)sc[is + 6] * (float)(((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
                }
            }
        }
        return 1;
    default:
        return 0;
    }
}

// MARK: Element-wise kernels of the GLM engine

/// y = x / sqrt(mean(x²) + eps) · w for `rows` rows of `n` (`y` may be `x`): the squares (exact
/// in doubles) summed in 8 partial sums, lane k taking values k, k + 8, …, then the lanes in
/// order: the same bits in every variant, with or without FMA.
static void EK_FN(rms_norm)(const float *x, const float *w, float *y, int64_t rows, int64_t n, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        double lanes[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++) lanes[k] += (double)xr[i + k] * (double)xr[i + k];
        for (int k = 0; i + k < n; k++) lanes[k] += (double)xr[i + k] * (double)xr[i + k];
        double ss = 0;
        for (int k = 0; k < 8; k++) ss += lanes[k];
        const float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
        float *yr = y + r * n;
        for (int64_t j = 0; j < n; j++) yr[j] = xr[j] * scale * w[j];
    }
}

/// dst[i] = silu(gate[i]) · up[i] = gate[i] / (1 + e^−gate[i]) · up[i] (`dst` may be `gate` or
/// `up`, or start before `gate` in the same buffer: each chunk is read whole before it is written).
static void EK_FN(silu_mul)(const float *gate, const float *up, float *dst, int64_t n) {
    // Through a local buffer: with `dst` possibly `gate`, a loop writing `dst` directly would
    // stay scalar (the compiler's overlap check fails), 4 ns a value where vectors take 0.3.
    enum { chunk = 256 };
    float out[chunk];
    for (int64_t i0 = 0; i0 < n; i0 += chunk) {
        const int64_t m = n - i0 < chunk ? n - i0 : chunk;
        for (int64_t j = 0; j < m; j++) {
            const float g = gate[i0 + j];
            out[j] = g / (1.0f + ek_exp(-g)) * up[i0 + j];
        }
        memcpy(dst + i0, out, (size_t)m * sizeof(float));
    }
}

/// Positions in a tile of the attention's weighted sum: a tile's values are read from memory
/// by the group's first head and from cache by the others (64 floats a position: 8 KiB a tile).
#define EK_ATTENTION_TILE 32

/// scores[i·ldk + j] = scale·(q_i · key j) for `heads` heads and `vecs` vectors of EK_VW
/// positions from j (both constants where it is called): the keys transposed (`kt[d·ldk +
/// j]`), so that a vector holds EK_VW positions and each lane's sum runs over the head's values
/// in order, with no horizontal sums; the heads share each load of the keys, and the
/// heads × vectors sums are independent chains.
static inline __attribute__((always_inline)) void ek_attention_scores(const int heads, const int vecs, const float *q,
                                                                       int64_t hd, const float *kt, int64_t ldk,
                                                                       int64_t j, float scale, float *scores) {
    ek_vf acc[4][2];
    for (int i = 0; i < heads; i++)
        for (int u = 0; u < vecs; u++) acc[i][u] = (ek_vf){0};
    for (int64_t d = 0; d < hd; d++) {
        ek_vf kv[2];
        for (int u = 0; u < vecs; u++) kv[u] = ek_loadv(kt + d * ldk + j + u * EK_VW);
        for (int i = 0; i < heads; i++)
            for (int u = 0; u < vecs; u++) acc[i][u] += q[i * hd + d] * kv[u];
    }
    for (int i = 0; i < heads; i++)
        for (int u = 0; u < vecs; u++) {
            const ek_vf sc = acc[i][u] * scale;
            memcpy(scores + i * ldk + j + u * EK_VW, &sc, sizeof sc);
        }
}

/// ek_attention_scores for up to four heads from `q`, `vecs` vectors of positions from j.
static inline __attribute__((always_inline)) void ek_attention_scores_heads(int64_t heads, const int vecs, const float *q,
                                                                             int64_t hd, const float *kt, int64_t ldk,
                                                                             int64_t j, float scale, float *scores) {
    switch (heads) {
    case 1: ek_attention_scores(1, vecs, q, hd, kt, ldk, j, scale, scores); break;
    case 2: ek_attention_scores(2, vecs, q, hd, kt, ldk, j, scale, scores); break;
    case 3: ek_attention_scores(3, vecs, q, hd, kt, ldk, j, scale, scores); break;
    default: ek_attention_scores(4, vecs, q, hd, kt, ldk, j, scale, scores); break;
    }
}

/// out_{h0+i} += Σ_j p_j·v[j·hd…] over positions j0 ≤ j < j1 for `heads` heads from h0 (a
/// constant where it is called), each head's dimension `m` vectors: the heads' sums are
/// independent chains of FMAs, and each head's is its own in the order of j.
static inline __attribute__((always_inline)) void ek_attention_values_heads(const int m, const int heads, const float *v,
                                                                             int64_t j0, int64_t j1, const float *scores,
                                                                             int64_t ldk, float *out) {
    const int64_t hd = (int64_t)m * EK_VW;
    ek_vf o[3][16];
    for (int i = 0; i < heads; i++)
        for (int c = 0; c < m; c++) o[i][c] = ek_loadv(out + i * hd + c * EK_VW);
    for (int64_t j = j0; j < j1; j++) {
        const float *vj = v + j * hd;
        for (int i = 0; i < heads; i++) {
            const float p = scores[i * ldk + j];
            for (int c = 0; c < m; c++) o[i][c] += p * ek_loadv(vj + c * EK_VW);
        }
    }
    for (int i = 0; i < heads; i++) memcpy(out + i * hd, o[i], sizeof(float) * (size_t)hd);
}

/// out_h = Σ_j p_j·v[j·hd…] for heads h < `heads`, each head's dimension `m` vectors (a constant
/// where it is called, so that the outputs stay in registers): tiles of EK_ATTENTION_TILE
/// positions read once for all the heads, three heads at a time when a head takes at most 4
/// vectors, else one.
static inline __attribute__((always_inline)) void ek_attention_values(const int m, int64_t heads, const float *v,
                                                                       int64_t n, const float *scores, int64_t ldk,
                                                                       float *out) {
    const int64_t hd = (int64_t)m * EK_VW;
    const int64_t together = m <= 4 ? 3 : 1;
    for (int64_t j0 = 0; j0 < n; j0 += EK_ATTENTION_TILE) {
        const int64_t j1 = n - j0 < EK_ATTENTION_TILE ? n : j0 + EK_ATTENTION_TILE;
        for (int64_t h = 0; h < heads; h += together) {
            const float *sh = scores + h * ldk;
            float *oh = out + h * hd;
            switch (heads - h < together ? heads - h : together) {
            case 3: ek_attention_values_heads(m, 3, v, j0, j1, sh, ldk, oh); break;
            case 2: ek_attention_values_heads(m, 2, v, j0, j1, sh, ldk, oh); break;
            default: ek_attention_values_heads(m, 1, v, j0, j1, sh, ldk, oh); break;
            }
        }
    }
}

/// Query heads h < `heads` (query and output h at `h·hd`) over the same `n` cached positions,
/// the keys transposed (`kt[d·ldk + j]`, `ldk` a multiple of 16 and at least n, readable up to
/// the next multiple of 16 past n): scores_j = scale·(q_h · key j), softmax, the weights
/// rounded to half precision (as they meet F16 values in llama.cpp), then out_h = Σ_j
/// p_j·v[j·hd…]. `scores` holds heads·ldk floats. The same operations in the same order
/// whatever the batch and however many heads share the call, so a token's result does not
/// depend on the tokens evaluated with it.
static void EK_FN(attention_heads)(const float *q, int64_t heads, const float *kt, int64_t ldk, const float *v,
                                   int64_t hd, int64_t n, float scale, float *scores, float *out) {
    for (int64_t h0 = 0; h0 < heads; h0 += 4) {
        const int64_t hn = heads - h0 < 4 ? heads - h0 : 4;
        const float *qh = q + h0 * hd;
        float *sh = scores + h0 * ldk;
        int64_t j = 0;
        for (; j + EK_VW < n; j += 2 * EK_VW) ek_attention_scores_heads(hn, 2, qh, hd, kt, ldk, j, scale, sh);
        if (j < n) ek_attention_scores_heads(hn, 1, qh, hd, kt, ldk, j, scale, sh);
    }
    for (int64_t h = 0; h < heads; h++) {
        float *sh = scores + h * ldk;
        ek_softmax_row(sh, n, 1);
        memset(out + h * hd, 0, sizeof(float) * (size_t)hd);
    }
    switch (hd % EK_VW == 0 ? hd / EK_VW : 0) {
    case 2: ek_attention_values(2, heads, v, n, scores, ldk, out); return;
    case 4: ek_attention_values(4, heads, v, n, scores, ldk, out); return;
    case 8: ek_attention_values(8, heads, v, n, scores, ldk, out); return;
    case 16: ek_attention_values(16, heads, v, n, scores, ldk, out); return;
    default: break;
    }
    for (int64_t h = 0; h < heads; h++) {
        const float *sh = scores + h * ldk;
        float *oh = out + h * hd;
        for (int64_t j = 0; j < n; j++) {
            const float p = sh[j];
            const float *vj = v + j * hd;
            for (int64_t d = 0; d < hd; d++) oh[d] += p * vj[d];
        }
    }
}
