// Assignment to the nearest IVF centroid by inner product.
//
// Where CKernels' Q8_0 tiles are fast (AVX-512 VNNI, AVX2), the products come first from
// 8-bit integers: the centroids quantized once (Q8_0: blocks of 32 values, a half-precision
// scale each, packed as CKernels' tiles), each block of rows quantized the same way, the
// products from `ek_tiles_matmul` (VNNI integer dot products: ~1.9× sgemm's speed on the rows
// × 1,024 × 384 of an IVF rebuild, ~1.6× with the bound and the recomputed candidates below;
// AVX2's 16-bit products: 65,536 unit rows × 1,024 × 384 on one thread in 0.42 s against
// 0.49–0.50 s for sgemm with OpenBLAS's Haswell kernels, Zen 4). Those are
// approximate, but their error has a bound: with x = x̂ + e_x and c = ĉ + e_c (the quantized
// values and what quantization left),
//     |x·c − x̂·ĉ| ≤ ‖x̂‖‖e_c‖ + ‖e_x‖‖ĉ‖ + ‖e_x‖‖e_c‖   (Cauchy–Schwarz),
// plus the kernel's float rounding. With B that bound and m the largest approximate product
// of a row, a centroid whose approximate product is below m − 2B has an exact one below that
// of the argmax of the approximate products: the nearest centroid is among the others (a
// handful), whose products are then computed in floats. So the answer is the centroid with
// the largest product in floats, the first of equal ones, as without the integers.
//
// Elsewhere (no VNNI, a dimension that is not a multiple of 32), the products come from one
// sgemm per block of rows, sized to stay in L2.
#include "cfaiss.h"
#include "ckernels.h"
#include "errors.h"
#include "scan.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include <faiss/impl/FaissAssert.h>

#include <immintrin.h>

struct cfaiss_centroids {
    int64_t k = 0, d = 0;
    /// Rows padded to a multiple of 16 (the tiles' groups).
    int64_t padded = 0;
    std::vector<float> rows;
    /// Whether the products come from 8-bit integers first.
    bool integer = false;
    std::vector<uint8_t> tiles;
    /// The largest ‖ĉ‖ and ‖c − ĉ‖ over the centroids.
    double max_norm = 0, max_error = 0;
};

namespace {

/// Rows per block (the integer path), and products per block (floats, 1 MB: L2).
constexpr int64_t integer_block_rows = 256;
constexpr size_t float_block_products = size_t{1} << 18;

/// Q8_0: a block is a half-precision scale then 32 signed bytes.
constexpr int64_t q8_block = 32, q8_block_bytes = 34;

// Four lanes: SSE2's, the x86-64 baseline's.
typedef float f4 __attribute__((ext_vector_type(4)));
typedef int i4 __attribute__((ext_vector_type(4)));

f4 load4(const float *p) {
    f4 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

/// ‖x̂‖ and ‖x − x̂‖ of `d` values (a multiple of 32) quantized as `q` with a scale per 32,
/// summed in floats and then raised by a thousandth, more than the sums' rounding (so that
/// they stay bounds). x̂ = scale·q is exact in floats (a half times a byte).
void quantized_norms(const float *x, const int8_t *q, const float *scale, int64_t d, double &norm, double &error) {
    f4 n2 = 0, e2 = 0;
    for (int64_t j = 0; j < d; j += 4) {
        f4 v = {float(q[j]), float(q[j + 1]), float(q[j + 2]), float(q[j + 3])};
        v *= scale[j / q8_block];
        const f4 e = load4(x + j) - v;
        n2 += v * v;
        e2 += e * e;
    }
    double n = 0, e = 0;
    for (int l = 0; l < 4; l++) n += n2[l], e += e2[l];
    constexpr double slack = 1.001;
    norm = std::sqrt(n) * slack;
    error = std::sqrt(e) * slack;
}

/// The index of the first largest of `n` products.
int64_t first_largest(const float *s, int64_t n) {
    int64_t j = 0, best = 0;
    float best_value = -INFINITY;
    if (n >= 4) {
        // Per lane, the first largest of the values it sees (a strict > keeps the first).
        f4 lane_value = load4(s);
        i4 index = {0, 1, 2, 3}, lane_index = index;
        for (j = 4; j + 4 <= n; j += 4) {
            const f4 v = load4(s + j);
            index += 4;
            const i4 larger = v > lane_value;
            lane_value = larger ? v : lane_value;
            lane_index = larger ? index : lane_index;
        }
        // The largest over the lanes; among equal ones, the first in the row.
        for (int l = 0; l < 4; l++) {
            if (lane_value[l] > best_value || (lane_value[l] == best_value && lane_index[l] < best)) {
                best_value = lane_value[l];
                best = lane_index[l];
            }
        }
    }
    for (; j < n; j++) {
        if (s[j] > best_value) {
            best_value = s[j];
            best = j;
        }
    }
    return best;
}

/// The largest of the first `n` (a multiple of 16) products; -∞ for none. SSE's maximum, in
/// four chains: a NaN product is passed over (the vector products are finite).
float largest(const float *s, int64_t n) {
    __m128 m0 = _mm_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    for (int64_t j = 0; j < n; j += 16) {
        m0 = _mm_max_ps(_mm_loadu_ps(s + j), m0);
        m1 = _mm_max_ps(_mm_loadu_ps(s + j + 4), m1);
        m2 = _mm_max_ps(_mm_loadu_ps(s + j + 8), m2);
        m3 = _mm_max_ps(_mm_loadu_ps(s + j + 12), m3);
    }
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, _mm_max_ps(_mm_max_ps(m0, m1), _mm_max_ps(m2, m3)));
    return std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
}

void nearest_by_floats(const cfaiss_centroids &c, const float *x, int64_t n, int64_t *out) {
    const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(float_block_products) / c.k);
    std::vector<float> products(static_cast<size_t>(std::min(rows, n) * c.k));
    for (int64_t start = 0; start < n; start += rows) {
        const int64_t m = std::min(rows, n - start);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m), static_cast<blasint>(c.k),
                    static_cast<blasint>(c.d), 1.0f, x + start * c.d, static_cast<blasint>(c.d), c.rows.data(),
                    static_cast<blasint>(c.d), 0.0f, products.data(), static_cast<blasint>(c.k));
        for (int64_t i = 0; i < m; i++) out[start + i] = first_largest(products.data() + i * c.k, c.k);
    }
}

void nearest_by_integers(const cfaiss_centroids &c, const float *x, int64_t n, int64_t *out) {
    const int64_t d = c.d, nb = d / q8_block, groups = c.padded / 16;
    const int64_t block = std::min(integer_block_rows, n);
    std::vector<int8_t> q(static_cast<size_t>(block * d));
    std::vector<float> scale(static_cast<size_t>(block * nb)), sums(static_cast<size_t>(block * nb));
    std::vector<float> products(static_cast<size_t>(block * c.padded));
    // The rows widened to 16 bits where the tile kernels in use read them so (AVX2).
    std::vector<int16_t> wide(ek_tiles_widened(ek_type_q8_0) ? static_cast<size_t>(block * d) : 0);
    // The kernel's rounding: each block's product is exact in integers, then scaled and summed
    // in floats, within (nb + 2) units of 2^-24 of Σ|block products| ≤ ‖x̂‖‖ĉ‖; counted 4 times.
    const double rounding = static_cast<double>(nb + 2) * std::ldexp(1.0, -22);
    for (int64_t start = 0; start < n; start += block) {
        const int64_t m = std::min(block, n - start);
        const float *rows = x + start * d;
        ek_quantize_q8(rows, m * d, q.data(), scale.data(), sums.data());
        if (!wide.empty()) ek_widen_q8(1, q.data(), m * d, m * d, wide.data());
        ek_tiles_matmul(ek_type_q8_0, c.tiles.data(), groups, d, m, 1, q.data(), scale.data(), sums.data(),
                        wide.empty() ? nullptr : wide.data(), products.data(), c.padded);
        for (int64_t i = 0; i < m; i++) {
            const float *row = rows + i * d, *y = products.data() + i * c.padded;
            double norm, error;
            quantized_norms(row, q.data() + i * d, scale.data() + i * nb, d, norm, error);
            // The largest over the real centroids (the padding rows' products are 0).
            const int64_t whole = c.k / 16 * 16;
            float top = largest(y, whole);
            for (int64_t j = whole; j < c.k; j++) top = std::max(top, y[j]);
            const double bound = norm * c.max_error + error * c.max_norm + error * c.max_error +
                                 rounding * norm * c.max_norm;
            // A row that is not finite makes every centroid a candidate.
            const float threshold = std::isfinite(top) && std::isfinite(bound)
                ? std::nextafter(static_cast<float>(static_cast<double>(top) - 2 * bound), -INFINITY) : -INFINITY;
            int64_t best = 0;
            float best_value = -INFINITY;
            const __m128 below = _mm_set1_ps(threshold);
            for (int64_t j = 0; j < c.k; j += 4) {
                if (j + 4 <= c.k && _mm_movemask_ps(_mm_cmpge_ps(_mm_loadu_ps(y + j), below)) == 0) continue;
                for (int64_t l = j; l < std::min(j + 4, c.k); l++) {
                    if (!(y[l] >= threshold)) continue;
                    const float p = cfaiss::inner_product(row, c.rows.data() + l * d, static_cast<size_t>(d));
                    if (p > best_value) best_value = p, best = l;
                }
            }
            out[start + i] = best;
        }
    }
}

} // namespace

extern "C" char *cfaiss_centroids_new(const float *centroids, int64_t k, int64_t d, int integer_products,
                                      cfaiss_centroids **out) {
    return cfaiss::guarded([&] {
        FAISS_THROW_IF_NOT_MSG(k > 0 && d > 0, "no centroids to assign to");
        auto c = std::make_unique<cfaiss_centroids>();
        c->k = k;
        c->d = d;
        c->padded = (k + 15) / 16 * 16;
        c->rows.assign(centroids, centroids + k * d);
        c->integer = integer_products && d % q8_block == 0 && ek_tiles_fast(ek_type_q8_0) != 0;
        if (c->integer) {
            const int64_t nb = d / q8_block, row_bytes = nb * q8_block_bytes;
            std::vector<uint8_t> blocks(static_cast<size_t>(c->padded * row_bytes), 0);
            std::vector<int8_t> q(static_cast<size_t>(d));
            std::vector<float> scale(static_cast<size_t>(nb)), sums(static_cast<size_t>(nb));
            for (int64_t r = 0; r < k && c->integer; r++) {
                const float *row = centroids + r * d;
                ek_quantize_q8(row, d, q.data(), scale.data(), sums.data());
                double norm, error;
                quantized_norms(row, q.data(), scale.data(), d, norm, error);
                if (!std::isfinite(norm) || !std::isfinite(error)) c->integer = false; // a centroid that is not finite
                c->max_norm = std::max(c->max_norm, norm);
                c->max_error = std::max(c->max_error, error);
                for (int64_t b = 0; b < nb; b++) {
                    uint8_t *block = blocks.data() + r * row_bytes + b * q8_block_bytes;
                    uint16_t half;
                    ek_f32_to_f16(&scale[static_cast<size_t>(b)], &half, 1); // exact: the scale is a half already
                    std::memcpy(block, &half, 2);
                    std::memcpy(block + 2, q.data() + b * q8_block, q8_block);
                }
            }
            if (c->integer) {
                c->tiles.resize(ek_tile_bytes(ek_type_q8_0) * static_cast<size_t>(c->padded / 16 * nb));
                ek_tiles_pack(ek_type_q8_0, blocks.data(), static_cast<size_t>(row_bytes), c->padded / 16, nb,
                              c->tiles.data());
            }
        }
        *out = c.release();
    });
}

extern "C" void cfaiss_centroids_free(cfaiss_centroids *centroids) { delete centroids; }

extern "C" int cfaiss_centroids_integer(const cfaiss_centroids *centroids) { return centroids->integer ? 1 : 0; }

extern "C" char *cfaiss_centroids_nearest(const cfaiss_centroids *centroids, const float *x, int64_t n, int threads,
                                         int64_t *out) {
    return cfaiss::guarded([&] {
        if (n <= 0) return;
        if (!centroids->integer) {
            nearest_by_floats(*centroids, x, n, out); // OpenBLAS's threads
            return;
        }
        // The rows split into `threads` parts, each on a thread of its own (the first on this
        // one), for a part of at least a block each.
        const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, n / integer_block_rows));
        const int64_t per = (n + parts - 1) / parts;
        std::vector<std::thread> helpers;
        std::vector<std::exception_ptr> failures(static_cast<size_t>(parts));
        auto part = [&](int64_t p) {
            try {
                const int64_t start = p * per, count = std::min(per, n - start);
                if (count > 0) nearest_by_integers(*centroids, x + start * centroids->d, count, out + start);
            } catch (...) {
                failures[static_cast<size_t>(p)] = std::current_exception();
            }
        };
        for (int64_t p = 1; p < parts; p++) helpers.emplace_back(part, p);
        part(0);
        for (auto &helper : helpers) helper.join();
        for (auto &failure : failures) {
            if (failure) std::rethrow_exception(failure);
        }
    });
}
