// Private to the shim: fast inner-product scans over FAISS's own storage.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include <faiss/Index.h>
#include <faiss/impl/IDSelector.h>

namespace cfaiss {
/// FAISS's label type. FAISS 1.7.3 (Debian 12) has only faiss::Index::idx_t; later versions
/// have only faiss::idx_t. Both are int64_t, checked against Index::ntotal (an idx_t in all).
/// The rest of what the shim uses reads the same in 1.7.3 and current FAISS (1.13):
/// IDSelectorBitmap(size_t, const uint8_t *); SearchParametersIVF::nprobe and
/// SearchParametersHNSW::efSearch (newer versions only add defaulted fields);
/// InvertedLists::ScopedIds/ScopedCodes(invlists, list) with get() and operator[];
/// IndexIDMap's `index` and std::vector `id_map`; IndexIVF's nprobe, nlist, cp and invlists
/// (now inherited from IndexIVFInterface/Level1Quantizer); IndexFlat::get_xb().
using idx_t = int64_t;
static_assert(std::is_same<idx_t, decltype(faiss::Index::ntotal)>::value, "FAISS's idx_t is not int64_t");

/// a · b over `d` floats, with the variant of `cfaiss_simd_level`.
float inner_product(const float *a, const float *b, size_t d);

/// Top-k of each of `n` queries (row-major) over an IndexFlat (inner product), k results a
/// query. `id_map` (from an IDMap wrapper) translates positions to labels; `selector` filters
/// labels. A query's results are the same bits whatever `n`: a few queries are scored together
/// for the price of fewer passes over the rows. Returns false if `inner` is not a flat
/// inner-product index.
bool scan_flat(const faiss::Index *inner, const std::vector<idx_t> *id_map, const float *queries, idx_t n,
               idx_t k, const faiss::IDSelector *selector, float *distances, idx_t *labels);

/// Top-k over an IndexIVFFlat (inner product, flat quantizer) visiting `nprobe` lists.
/// Returns false for any other index.
bool scan_ivf(const faiss::Index *inner, const float *query, idx_t k, size_t nprobe,
              const faiss::IDSelector *selector, float *distances, idx_t *labels);
} // namespace cfaiss
