// Two-level k-means for the IVF coarse quantizer.
//
// Flat k-means costs n × nlist × d per iteration, and needs ~40 points per list: for the
// 1,024 lists of a 100,000-vector index that is about 8 s on one core. Clustering first into
// √nlist groups, then each group into its share of the lists, costs n × 2√nlist × d per
// iteration (about 0.2 s here); two flat iterations from those centroids then fix the points
// stuck on the wrong side of a group boundary (recall at 16 of 1,024 lists on the shared
// harness's data: two-level alone 0.977, plus two flat iterations 0.994, ten flat
// iterations from random centroids 0.991; Benchmarks/README.md).
#include "cfaiss.h"
#include "scan.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <numeric>
#include <string>
#include <vector>

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissAssert.h>

namespace {

char *copy_error(const std::string &message) {
    char *out = static_cast<char *>(std::malloc(message.size() + 1));
    if (out != nullptr) std::memcpy(out, message.c_str(), message.size() + 1);
    return out;
}

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

extern "C" char *cfaiss_kmeans_two_level(int64_t dimension, int64_t n, const float *vectors, int64_t nlist,
                                         int niter, int refine, int seed, float *out) {
    try {
        FAISS_THROW_IF_NOT_MSG(n > 0 && nlist > 0 && dimension > 0, "no training vectors");
        const size_t d = static_cast<size_t>(dimension), count = static_cast<size_t>(n);
        const size_t lists = static_cast<size_t>(nlist);
        std::vector<float> centroids;
        centroids.reserve(lists * d);
        const size_t groups = static_cast<size_t>(std::ceil(std::sqrt(static_cast<double>(lists))));
        if (lists <= 64 || count <= lists) {
            kmeans(d, count, vectors, std::min(lists, count), niter, seed, centroids);
            for (size_t i = centroids.size() / d; i < lists; i++) centroids.insert(centroids.end(), vectors, vectors + d);
        } else {
            // Level 1: √nlist groups.
            std::vector<float> top;
            kmeans(d, count, vectors, groups, niter, seed, top);
            faiss::IndexFlatIP topIndex(static_cast<faiss::Index::idx_t>(d));
            topIndex.add(static_cast<faiss::Index::idx_t>(groups), top.data());
            std::vector<float> distances(count);
            std::vector<faiss::Index::idx_t> assigned(count);
            topIndex.search(n, vectors, 1, distances.data(), assigned.data());
            std::vector<std::vector<size_t>> members(groups);
            for (size_t i = 0; i < count; i++) members[static_cast<size_t>(assigned[i])].push_back(i);
            // Each group gets lists in proportion to its points (largest remainders), at
            // least one if it has any point.
            std::vector<size_t> share(groups, 0);
            std::vector<std::pair<double, size_t>> remainders;
            size_t given = 0;
            for (size_t g = 0; g < groups; g++) {
                double exact = static_cast<double>(lists) * members[g].size() / count;
                share[g] = members[g].empty() ? 0 : std::max<size_t>(1, static_cast<size_t>(exact));
                given += share[g];
                remainders.push_back({exact - std::floor(exact), g});
            }
            std::sort(remainders.begin(), remainders.end(), [](auto a, auto b) { return a.first > b.first; });
            for (size_t i = 0; given < lists; i = (i + 1) % groups) {
                if (!members[remainders[i].second].empty()) { share[remainders[i].second]++; given++; }
            }
            while (given > lists) {
                size_t largest = static_cast<size_t>(std::max_element(share.begin(), share.end()) - share.begin());
                share[largest]--;
                given--;
            }
            // Level 2: each group into its share.
            std::vector<float> points;
            for (size_t g = 0; g < groups; g++) {
                if (share[g] == 0) continue;
                points.clear();
                for (size_t i : members[g]) points.insert(points.end(), vectors + i * d, vectors + (i + 1) * d);
                kmeans(d, members[g].size(), points.data(), share[g], niter, seed + static_cast<int>(g) + 1, centroids);
            }
        }
        FAISS_THROW_IF_NOT_MSG(centroids.size() == lists * d, "two-level k-means produced the wrong number of lists");
        if (lists > 64 && count > lists && refine > 0) {
            // A few flat iterations from the two-level centroids move the points stuck on the
            // wrong side of a group boundary: the recall of a fixed scan volume then matches
            // (here exceeds) that of ten flat iterations from random centroids.
            faiss::ClusteringParameters cp;
            cp.niter = refine;
            cp.spherical = true;
            cp.seed = seed;
            cp.min_points_per_centroid = 1;
            cp.max_points_per_centroid = 1 << 30;
            faiss::Clustering clustering(static_cast<int>(d), static_cast<int>(lists), cp);
            clustering.centroids = centroids;
            faiss::IndexFlatIP assign(static_cast<faiss::Index::idx_t>(d));
            clustering.train(n, vectors, assign);
            centroids = clustering.centroids;
        }
        std::copy(centroids.begin(), centroids.end(), out);
        return nullptr;
    } catch (const std::exception &e) {
        return copy_error(e.what());
    } catch (...) {
        return copy_error("unknown FAISS error");
    }
}
