// Approximate inner products against 8-bit scalar-quantized vectors.
//
// A vector x is stored as codes c (one byte a dimension) with x_j ≈ vmin_j + c_j · step_j.
// For a query q the caller passes qs_j = q_j · step_j and bias = Σ q_j · vmin_j, so that
// q · x ≈ bias + Σ qs_j · c_j. Rows live in chunks of 2^chunk_shift rows (d bytes a row):
// label l is row (l mod 2^shift) of chunk l >> shift.
#include "cfaiss.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <immintrin.h>

namespace {

float sq8_dot_portable(const float *qs, const uint8_t *code, size_t d) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t j = 0;
    for (; j + 4 <= d; j += 4) {
        s0 += qs[j] * code[j];
        s1 += qs[j + 1] * code[j + 1];
        s2 += qs[j + 2] * code[j + 2];
        s3 += qs[j + 3] * code[j + 3];
    }
    for (; j < d; j++) s0 += qs[j] * code[j];
    return (s0 + s1) + (s2 + s3);
}

__attribute__((target("avx2,fma"), always_inline)) inline float sq8_dot_avx2(const float *qs, const uint8_t *code,
                                                                            size_t d) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= d; j += 16) {
        __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(code + j));
        __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
        __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)));
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(qs + j), lo, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(qs + j + 8), hi, acc1);
    }
    __m256 acc = _mm256_add_ps(acc0, acc1);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    float out = _mm_cvtss_f32(s);
    for (; j < d; j++) out += qs[j] * code[j];
    return out;
}

__attribute__((target("avx512f"), always_inline)) inline float sq8_dot_avx512(const float *qs, const uint8_t *code,
                                                                             size_t d) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 32 <= d; j += 32) {
        __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(code + j))));
        __m512 hi = _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(code + j + 16))));
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(qs + j), lo, acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(qs + j + 16), hi, acc1);
    }
    for (; j + 16 <= d; j += 16) {
        __m512 x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(code + j))));
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(qs + j), x, acc0);
    }
    float out = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for (; j < d; j++) out += qs[j] * code[j];
    return out;
}

/// The row of `label`: row (l mod 2^shift) of chunk l >> shift.
inline const uint8_t *row_of(const uint8_t *const *chunks, int chunk_shift, size_t d, int64_t label) {
    const uint64_t l = static_cast<uint64_t>(label);
    return chunks[l >> chunk_shift] + (l & ((uint64_t{1} << chunk_shift) - 1)) * d;
}

/// Rows are scattered: fetch a few rows ahead so that memory latency overlaps the math.
constexpr size_t prefetch_ahead = 8;

inline void prefetch_row(const uint8_t *const *chunks, int chunk_shift, size_t d, const int64_t *labels, size_t i,
                         size_t n) {
    if (i + prefetch_ahead >= n) return;
    const char *next = reinterpret_cast<const char *>(row_of(chunks, chunk_shift, d, labels[i + prefetch_ahead]));
    for (size_t l = 0; l < (d + 63) / 64; l++) _mm_prefetch(next + 64 * l, _MM_HINT_T0);
}

// One loop per instruction set, each with its row kernel inlined.
#define SQ8_SCORES(name, target_attr, dot)                                                                          \
    target_attr void name(const float *qs, float bias, const uint8_t *const *chunks, int chunk_shift, size_t d,     \
                          const int64_t *labels, size_t n, float *out) {                                           \
        for (size_t i = 0; i < n; i++) {                                                                           \
            prefetch_row(chunks, chunk_shift, d, labels, i, n);                                                    \
            out[i] = bias + dot(qs, row_of(chunks, chunk_shift, d, labels[i]), d);                                 \
        }                                                                                                          \
    }

SQ8_SCORES(sq8_scores_portable, , sq8_dot_portable)
SQ8_SCORES(sq8_scores_avx2, __attribute__((target("avx2,fma"))), sq8_dot_avx2)
SQ8_SCORES(sq8_scores_avx512, __attribute__((target("avx512f"))), sq8_dot_avx512)

using Sq8ScoresFn = void (*)(const float *, float, const uint8_t *const *, int, size_t, const int64_t *, size_t, float *);

Sq8ScoresFn sq8_scores_for(int level) {
    switch (level) {
    case cfaiss_simd_avx512: return sq8_scores_avx512;
    case cfaiss_simd_avx2: return sq8_scores_avx2;
    default: return sq8_scores_portable;
    }
}

Sq8ScoresFn sq8_scores = sq8_scores_for(cfaiss_simd_level());

} // namespace

extern "C" double cfaiss_sq8_encode(const float *x, const float *vmin, const float *step, size_t d, uint8_t *codes) {
    // The codes first, in a loop the compiler vectorizes: c = v rounded half away from zero,
    // v = (x − vmin)/step clamped to [0, 255] (t + [v − t ≥ ½] with t = ⌊v⌋: v − t is exact).
    for (size_t j = 0; j < d; j++) {
        float v = (x[j] - vmin[j]) / step[j];
        v = v > 0.0f ? v : 0.0f;
        v = v < 255.0f ? v : 255.0f;
        const int t = static_cast<int>(v);
        codes[j] = static_cast<uint8_t>(t + (v - static_cast<float>(t) >= 0.5f ? 1 : 0));
    }
    // Then the squared error, summed in the order of the dimensions (each term as the
    // reconstruction vmin + c·step in double): the sum is part of the stored codes' format,
    // which `check` recomputes and compares bit for bit.
    double err = 0;
    for (size_t j = 0; j < d; j++) {
        const double diff = static_cast<double>(x[j]) -
                            (static_cast<double>(vmin[j]) + static_cast<double>(codes[j]) * static_cast<double>(step[j]));
        err += diff * diff;
    }
    return err;
}

extern "C" void cfaiss_sq8_scores(const float *qs, float bias, const uint8_t *const *chunks, int chunk_shift,
                                  size_t d, const int64_t *labels, size_t n, float *out) {
    sq8_scores(qs, bias, chunks, chunk_shift, d, labels, n, out);
}

extern "C" void cfaiss_sq8_scores_at(int level, const float *qs, float bias, const uint8_t *const *chunks,
                                     int chunk_shift, size_t d, const int64_t *labels, size_t n, float *out) {
    sq8_scores_for(std::min(level, cfaiss_simd_level()))(qs, bias, chunks, chunk_shift, d, labels, n, out);
}
