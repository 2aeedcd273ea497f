// Spherical k-means for the IVF coarse quantizer: one FAISS clustering of points held in
// memory. The two-level scheme built on it (IVFTraining.swift) streams its sample from the
// vector file, so that training never holds the whole sample.
#include "cfaiss.h"
#include "errors.h"
#include "scan.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <vector>

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissAssert.h>

namespace {

/// Spherical k-means of `n` unit vectors into `k` centroids (k ≤ n), appended to `out`.
void kmeans(size_t d, size_t n, const float *x, size_t k, int niter, int seed, std::vector<float> &out) {
    if (k >= n) {
        // As many lists as points: each point is its own centroid.
        out.insert(out.end(), x, x + n * d);
        for (size_t i = n; i < k; i++) out.insert(out.end(), x, x + d);
        return;
    }
    faiss::ClusteringParameters cp;
    cp.niter = niter;
    cp.spherical = true;
    cp.seed = seed;
    cp.min_points_per_centroid = 1; // callers size the sample; no warnings on stderr
    cp.max_points_per_centroid = 1 << 30;
    faiss::Clustering clustering(static_cast<int>(d), static_cast<int>(k), cp);
    faiss::IndexFlatIP assign(static_cast<faiss::Index::idx_t>(d));
    clustering.train(static_cast<faiss::Index::idx_t>(n), x, assign);
    out.insert(out.end(), clustering.centroids.begin(), clustering.centroids.end());
}

} // namespace

extern "C" char *cfaiss_kmeans(int64_t dimension, int64_t n, const float *vectors, int64_t k, int niter, int seed,
                              float *out) {
    return cfaiss::guarded([&] {
        FAISS_THROW_IF_NOT_MSG(n > 0 && k > 0 && dimension > 0, "no training vectors");
        const size_t d = static_cast<size_t>(dimension);
        std::vector<float> centroids;
        centroids.reserve(static_cast<size_t>(k) * d);
        kmeans(d, static_cast<size_t>(n), vectors, static_cast<size_t>(k), niter, seed, centroids);
        std::copy(centroids.begin(), centroids.end(), out);
    });
}
