// Approximate inner products against 8-bit scalar-quantized vectors.
//
// A vector x is stored as codes c (one byte a dimension) with x_j ≈ vmin_j + c_j · step_j.
// For a query q the caller passes qs_j = q_j · step_j and bias = Σ q_j · vmin_j, so that
// q · x ≈ bias + Σ qs_j · c_j. Rows live in chunks of 2^chunk_shift rows (d bytes a row):
// label l is row (l mod 2^shift) of chunk l >> shift.
#include "cfaiss.h"

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

__attribute__((target("avx2,fma"))) float sq8_dot_avx2(const float *qs, const uint8_t *code, size_t d) {
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

using Sq8Fn = float (*)(const float *, const uint8_t *, size_t);

Sq8Fn pick() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return sq8_dot_avx2;
    return sq8_dot_portable;
}

const Sq8Fn sq8_dot = pick();

} // namespace

extern "C" void cfaiss_sq8_scores(const float *qs, float bias, const uint8_t *const *chunks, int chunk_shift,
                                  size_t d, const int64_t *labels, size_t n, float *out) {
    const uint64_t mask = (uint64_t{1} << chunk_shift) - 1;
    auto row = [&](int64_t label) {
        const uint64_t l = static_cast<uint64_t>(label);
        return chunks[l >> chunk_shift] + (l & mask) * d;
    };
    // Rows are scattered: fetch a few rows ahead so that memory latency overlaps the math.
    constexpr size_t ahead = 8;
    const size_t lines = (d + 63) / 64;
    for (size_t i = 0; i < n; i++) {
        if (i + ahead < n) {
            const char *next = reinterpret_cast<const char *>(row(labels[i + ahead]));
            for (size_t l = 0; l < lines; l++) _mm_prefetch(next + 64 * l, _MM_HINT_T0);
        }
        out[i] = bias + sq8_dot(qs, row(labels[i]), d);
    }
}
