// Inner-product scans for flat and IVF-flat indexes.
//
// Debian's FAISS build is compiled for baseline x86-64, so its distance loops use no AVX.
// These kernels read FAISS's own storage (the flat vectors, the IVF centroids and inverted
// lists) and score it with AVX2/FMA when the CPU has them, or with portable code otherwise.
// The results are the same top-k FAISS would return, up to float rounding.
#include "scan.h"
#include "cfaiss.h"

#include <algorithm>
#include <cstring>
#include <queue>
#include <utility>
#include <vector>

#include <immintrin.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/invlists/InvertedLists.h>

namespace cfaiss {
namespace {

float dot_portable(const float *a, const float *b, size_t d) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= d; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < d; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float *a, const float *b, size_t d) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= d; i += 8) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    }
    __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    __m128 lo = _mm256_castps256_ps128(acc), hi = _mm256_extractf128_ps(acc, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    float out = _mm_cvtss_f32(s);
    for (; i < d; i++) out += a[i] * b[i];
    return out;
}

__attribute__((target("avx512f"))) float dot_avx512(const float *a, const float *b, size_t d) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    }
    for (; i + 16 <= d; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    float out = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for (; i < d; i++) out += a[i] * b[i];
    return out;
}

// Several queries against one row: out[j] = queries[j] · b for j < n, each sum taken in the
// order of the single-query kernel (the same bits), the row loaded once for all of them. One
// query's sum is a chain of dependent FMAs; interleaving the chains of a few queries keeps
// the FMA units busy, so a batch of queries costs much less than its queries one by one.

/// At most this many queries a pass (the AVX2 kernel's 4 accumulators a query leave room in 16
/// registers for 2; the AVX-512 kernel's 2 in 32 for 4).
constexpr size_t dots_max = 4;

void dots_portable(const float *queries, size_t n, const float *b, size_t d, float *out) {
    for (size_t j = 0; j < n; j++) out[j] = dot_portable(queries + j * d, b, d);
}

template <size_t N>
__attribute__((target("avx2,fma"), always_inline)) inline void dots_avx2_n(const float *queries, const float *b, size_t d,
                                                                           float *out) {
    __m256 acc[N][4];
    for (size_t j = 0; j < N; j++)
        for (int r = 0; r < 4; r++) acc[j][r] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32)
        for (int r = 0; r < 4; r++) {
            const __m256 x = _mm256_loadu_ps(b + i + 8 * r);
            for (size_t j = 0; j < N; j++) acc[j][r] = _mm256_fmadd_ps(_mm256_loadu_ps(queries + j * d + i + 8 * r), x, acc[j][r]);
        }
    for (; i + 8 <= d; i += 8) {
        const __m256 x = _mm256_loadu_ps(b + i);
        for (size_t j = 0; j < N; j++) acc[j][0] = _mm256_fmadd_ps(_mm256_loadu_ps(queries + j * d + i), x, acc[j][0]);
    }
    for (size_t j = 0; j < N; j++) {
        const float *a = queries + j * d;
        __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[j][0], acc[j][1]), _mm256_add_ps(acc[j][2], acc[j][3]));
        __m128 lo = _mm256_castps256_ps128(sum), hi = _mm256_extractf128_ps(sum, 1);
        __m128 s = _mm_add_ps(lo, hi);
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        float v = _mm_cvtss_f32(s);
        for (size_t t = i; t < d; t++) v += a[t] * b[t];
        out[j] = v;
    }
}

__attribute__((target("avx2,fma"))) void dots_avx2(const float *queries, size_t n, const float *b, size_t d, float *out) {
    size_t j = 0;
    for (; j + 2 <= n; j += 2) dots_avx2_n<2>(queries + j * d, b, d, out + j);
    if (j < n) out[j] = dot_avx2(queries + j * d, b, d);
}

template <size_t N>
__attribute__((target("avx512f"), always_inline)) inline void dots_avx512_n(const float *queries, const float *b, size_t d,
                                                                            float *out) {
    __m512 acc0[N], acc1[N];
    for (size_t j = 0; j < N; j++) acc0[j] = acc1[j] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        const __m512 x0 = _mm512_loadu_ps(b + i), x1 = _mm512_loadu_ps(b + i + 16);
        for (size_t j = 0; j < N; j++) {
            acc0[j] = _mm512_fmadd_ps(_mm512_loadu_ps(queries + j * d + i), x0, acc0[j]);
            acc1[j] = _mm512_fmadd_ps(_mm512_loadu_ps(queries + j * d + i + 16), x1, acc1[j]);
        }
    }
    for (; i + 16 <= d; i += 16) {
        const __m512 x = _mm512_loadu_ps(b + i);
        for (size_t j = 0; j < N; j++) acc0[j] = _mm512_fmadd_ps(_mm512_loadu_ps(queries + j * d + i), x, acc0[j]);
    }
    for (size_t j = 0; j < N; j++) {
        const float *a = queries + j * d;
        float v = _mm512_reduce_add_ps(_mm512_add_ps(acc0[j], acc1[j]));
        for (size_t t = i; t < d; t++) v += a[t] * b[t];
        out[j] = v;
    }
}

__attribute__((target("avx512f"))) void dots_avx512(const float *queries, size_t n, const float *b, size_t d, float *out) {
    switch (n) {
    case 4: dots_avx512_n<4>(queries, b, d, out); break;
    case 3: dots_avx512_n<3>(queries, b, d, out); break;
    case 2: dots_avx512_n<2>(queries, b, d, out); break;
    default: out[0] = dot_avx512(queries, b, d); break;
    }
}

using DotFn = float (*)(const float *, const float *, size_t);
using DotsFn = void (*)(const float *, size_t, const float *, size_t, float *);

DotFn dot_for(int level) {
    switch (level) {
    case cfaiss_simd_avx512: return dot_avx512;
    case cfaiss_simd_avx2: return dot_avx2;
    default: return dot_portable;
    }
}

DotsFn dots_for(int level) {
    switch (level) {
    case cfaiss_simd_avx512: return dots_avx512;
    case cfaiss_simd_avx2: return dots_avx2;
    default: return dots_portable;
    }
}

const DotFn dot = dot_for(cfaiss_simd_level());
const DotsFn dots = dots_for(cfaiss_simd_level());

/// Keeps the k largest (score, label) pairs.
struct TopK {
    using Entry = std::pair<float, idx_t>;
    struct Worse {
        bool operator()(const Entry &a, const Entry &b) const {
            return a.first != b.first ? a.first > b.first : a.second < b.second;
        }
    };
    size_t k;
    std::priority_queue<Entry, std::vector<Entry>, Worse> heap;
    explicit TopK(size_t k) : k(k) {}
    float threshold() const { return heap.size() < k ? -INFINITY : heap.top().first; }
    void push(float score, idx_t label) {
        if (heap.size() < k) {
            heap.emplace(score, label);
        } else if (score > heap.top().first) {
            heap.pop();
            heap.emplace(score, label);
        }
    }
    /// Writes best first, padding with (-inf, -1).
    void write(float *distances, idx_t *labels) {
        size_t n = heap.size();
        for (size_t i = k; i > n; i--) {
            distances[i - 1] = -INFINITY;
            labels[i - 1] = -1;
        }
        for (size_t i = n; i > 0; i--) {
            distances[i - 1] = heap.top().first;
            labels[i - 1] = heap.top().second;
            heap.pop();
        }
    }
};

} // namespace

bool scan_flat(const faiss::Index *inner, const std::vector<idx_t> *id_map, const float *queries, idx_t n, idx_t k,
               const faiss::IDSelector *selector, float *distances, idx_t *labels) {
    auto *flat = dynamic_cast<const faiss::IndexFlat *>(inner);
    if (flat == nullptr || flat->metric_type != faiss::METRIC_INNER_PRODUCT) return false;
    const size_t d = static_cast<size_t>(flat->d);
    const float *xb = flat->get_xb();
    // The queries in passes of up to dots_max, each pass reading the rows once.
    for (idx_t first = 0; first < n; first += static_cast<idx_t>(dots_max)) {
        const size_t m = std::min(dots_max, static_cast<size_t>(n - first));
        const float *pass = queries + static_cast<size_t>(first) * d;
        std::vector<TopK> tops(m, TopK(static_cast<size_t>(k)));
        float scores[dots_max];
        for (idx_t i = 0; i < flat->ntotal; i++) {
            idx_t label = id_map ? (*id_map)[i] : i;
            if (selector && !selector->is_member(label)) continue;
            dots(pass, m, xb + static_cast<size_t>(i) * d, d, scores);
            for (size_t j = 0; j < m; j++) tops[j].push(scores[j], label);
        }
        for (size_t j = 0; j < m; j++)
            tops[j].write(distances + static_cast<size_t>(first + static_cast<idx_t>(j)) * static_cast<size_t>(k),
                          labels + static_cast<size_t>(first + static_cast<idx_t>(j)) * static_cast<size_t>(k));
    }
    return true;
}

bool scan_ivf(const faiss::Index *inner, const float *query, idx_t k, size_t nprobe,
              const faiss::IDSelector *selector, float *distances, idx_t *labels) {
    auto *ivf = dynamic_cast<const faiss::IndexIVFFlat *>(inner);
    if (ivf == nullptr || ivf->metric_type != faiss::METRIC_INNER_PRODUCT) return false;
    auto *centroids = dynamic_cast<const faiss::IndexFlat *>(ivf->quantizer);
    if (centroids == nullptr || centroids->metric_type != faiss::METRIC_INNER_PRODUCT) return false;
    const size_t d = static_cast<size_t>(ivf->d);
    nprobe = std::min(std::max<size_t>(nprobe, 1), ivf->nlist);

    // Coarse step: the nprobe centroids with the largest inner product.
    std::vector<std::pair<float, size_t>> coarse(ivf->nlist);
    const float *xc = centroids->get_xb();
    for (size_t c = 0; c < ivf->nlist; c++) coarse[c] = {dot(query, xc + c * d, d), c};
    std::partial_sort(coarse.begin(), coarse.begin() + nprobe, coarse.end(),
                      [](const auto &a, const auto &b) { return a.first > b.first; });

    TopK top(static_cast<size_t>(k));
    for (size_t p = 0; p < nprobe; p++) {
        size_t list = coarse[p].second;
        size_t size = ivf->invlists->list_size(list);
        if (size == 0) continue;
        faiss::InvertedLists::ScopedIds ids(ivf->invlists, list);
        faiss::InvertedLists::ScopedCodes codes(ivf->invlists, list);
        const float *vectors = reinterpret_cast<const float *>(codes.get());
        for (size_t j = 0; j < size; j++) {
            idx_t label = ids[j];
            if (selector && !selector->is_member(label)) continue;
            top.push(dot(query, vectors + j * d, d), label);
        }
    }
    top.write(distances, labels);
    return true;
}

float inner_product(const float *a, const float *b, size_t d) { return dot(a, b, d); }

} // namespace cfaiss

extern "C" void cfaiss_dot_rows(const float *query, const float *base, size_t d, const int64_t *rows, size_t n,
                                float *out) {
    // Rows are scattered: fetch a few rows ahead so that memory latency overlaps the math.
    constexpr size_t ahead = 4;
    const size_t lines = (d * sizeof(float) + 63) / 64;
    for (size_t i = 0; i < n && i < ahead; i++) {
        const char *row = reinterpret_cast<const char *>(base + static_cast<size_t>(rows[i]) * d);
        for (size_t l = 0; l < lines; l++) _mm_prefetch(row + 64 * l, _MM_HINT_T0);
    }
    for (size_t i = 0; i < n; i++) {
        if (i + ahead < n) {
            const char *row = reinterpret_cast<const char *>(base + static_cast<size_t>(rows[i + ahead]) * d);
            for (size_t l = 0; l < lines; l++) _mm_prefetch(row + 64 * l, _MM_HINT_T0);
        }
        out[i] = cfaiss::dot(query, base + static_cast<size_t>(rows[i]) * d, d);
    }
}

extern "C" void cfaiss_dot_many_at(int level, const float *queries, size_t n, const float *b, size_t d, float *out,
                                   float *alone) {
    const int chosen = std::min(level, cfaiss_simd_level());
    for (size_t first = 0; first < n; first += cfaiss::dots_max)
        cfaiss::dots_for(chosen)(queries + first * d, std::min(cfaiss::dots_max, n - first), b, d, out + first);
    for (size_t j = 0; j < n; j++) alone[j] = cfaiss::dot_for(chosen)(queries + j * d, b, d);
}
