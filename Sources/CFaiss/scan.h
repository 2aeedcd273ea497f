// Private to the shim: fast inner-product scans over FAISS's own storage.
#pragma once
#include <cstddef>
#include <vector>

#include <faiss/Index.h>
#include <faiss/impl/IDSelector.h>

namespace cfaiss {
/// Top-k over an IndexFlat (inner product). `id_map` (from an IDMap wrapper) translates
/// positions to labels; `selector` filters labels. Returns false if `inner` is not a flat
/// inner-product index.
bool scan_flat(const faiss::Index *inner, const std::vector<faiss::Index::idx_t> *id_map, const float *query,
               faiss::Index::idx_t k, const faiss::IDSelector *selector, float *distances,
               faiss::Index::idx_t *labels);

/// Top-k over an IndexIVFFlat (inner product, flat quantizer) visiting `nprobe` lists.
/// Returns false for any other index.
bool scan_ivf(const faiss::Index *inner, const float *query, faiss::Index::idx_t k, size_t nprobe,
              const faiss::IDSelector *selector, float *distances, faiss::Index::idx_t *labels);
} // namespace cfaiss
