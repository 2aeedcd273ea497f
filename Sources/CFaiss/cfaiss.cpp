#include "cfaiss.h"
#include "ckernels.h"
#include "errors.h"
#include "scan.h"

#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include <omp.h>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/FaissAssert.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

struct cfaiss_index {
    std::unique_ptr<faiss::Index> index;
};

using cfaiss::copy_message;
using cfaiss::guarded;

namespace {

/// The index that does the real work below IDMap wrappers.
const faiss::Index *unwrap(const faiss::Index *index) {
    if (auto *map = dynamic_cast<const faiss::IndexIDMap *>(index)) {
        return map->index;
    }
    return index;
}

/// Selects an inner index's sequential ids whose outer label passes `labels`.
struct TranslatedSelector : faiss::IDSelector {
    const std::vector<cfaiss::idx_t> &id_map;
    const faiss::IDSelector &labels;
    TranslatedSelector(const std::vector<cfaiss::idx_t> &id_map, const faiss::IDSelector &labels)
        : id_map(id_map), labels(labels) {}
    bool is_member(cfaiss::idx_t id) const final {
        return id >= 0 && static_cast<size_t>(id) < id_map.size() && labels.is_member(id_map[id]);
    }
};

} // namespace

extern "C" {

void cfaiss_free_error(char *error) { std::free(error); }

char *cfaiss_index_factory(int dimension, const char *description, int metric_inner_product,
                           cfaiss_index **out) {
    *out = nullptr;
    return guarded([&] {
        auto metric = metric_inner_product ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2;
        std::unique_ptr<faiss::Index> index(faiss::index_factory(dimension, description, metric));
        *out = new cfaiss_index{std::move(index)};
    });
}

void cfaiss_index_free(cfaiss_index *index) { delete index; }

int cfaiss_index_dimension(const cfaiss_index *index) { return index->index->d; }
int64_t cfaiss_index_ntotal(const cfaiss_index *index) { return index->index->ntotal; }
int cfaiss_index_is_trained(const cfaiss_index *index) { return index->index->is_trained ? 1 : 0; }

char *cfaiss_index_train(cfaiss_index *index, int64_t n, const float *vectors,
                         int kmeans_iterations) {
    return guarded([&] {
        if (auto *ivf = dynamic_cast<faiss::IndexIVF *>(index->index.get())) {
            if (kmeans_iterations > 0) ivf->cp.niter = kmeans_iterations;
        }
        index->index->train(n, vectors);
    });
}

char *cfaiss_index_add_with_ids(cfaiss_index *index, int64_t n, const float *vectors,
                                const int64_t *labels) {
    return guarded([&] { index->index->add_with_ids(n, vectors, labels); });
}

char *cfaiss_index_remove_ids(cfaiss_index *index, int64_t n, const int64_t *labels,
                              int64_t *removed) {
    *removed = 0;
    return guarded([&] {
        faiss::IDSelectorBatch selector(static_cast<size_t>(n), labels);
        *removed = static_cast<int64_t>(index->index->remove_ids(selector));
    });
}

char *cfaiss_index_search(const cfaiss_index *index, int64_t n, const float *queries, int64_t k,
                          const cfaiss_search_params *params, float *distances, int64_t *labels) {
    return guarded([&] {
        std::unique_ptr<faiss::IDSelectorBitmap> bitmap;
        if (params != nullptr && params->bitmap != nullptr) {
            bitmap.reset(new faiss::IDSelectorBitmap(params->bitmap_bytes, params->bitmap));
        }
        // FAISS 1.7.3's IDMap wrappers refuse search parameters, so search the inner index
        // directly (with the selector translated to its sequential ids) and map labels back.
        const faiss::Index *outer = index->index.get();
        auto *map = dynamic_cast<const faiss::IndexIDMap *>(outer);
        const faiss::Index *inner = map ? map->index : outer;
        std::unique_ptr<TranslatedSelector> translated;
        const faiss::IDSelector *selector = bitmap.get();
        if (map && bitmap) {
            translated.reset(new TranslatedSelector(map->id_map, *bitmap));
            selector = translated.get();
        }
        // Queries on a flat index, and single queries on an IVF-flat one, take the vectorised
        // scans. On a flat index every query gets the bits it gets alone, however many are
        // searched together (FAISS's own search would take a BLAS product from 20 queries on,
        // with other roundings: a batch of IVF probes could then differ from its probes alone).
        if (cfaiss::scan_flat(inner, map ? &map->id_map : nullptr, queries, n, k, bitmap.get(), distances, labels)) return;
        if (n == 1) {
            size_t probes = 0;
            if (auto *ivfIndex = dynamic_cast<const faiss::IndexIVF *>(inner)) {
                probes = (params && params->nprobe > 0) ? static_cast<size_t>(params->nprobe) : ivfIndex->nprobe;
            }
            if (cfaiss::scan_ivf(inner, queries, k, probes, bitmap.get(), distances, labels)) return;
        }
        faiss::SearchParametersIVF ivf;
        faiss::SearchParametersHNSW hnsw;
        faiss::SearchParameters plain;
        faiss::SearchParameters *chosen = nullptr;
        if (auto *ivfIndex = dynamic_cast<const faiss::IndexIVF *>(inner)) {
            ivf.nprobe = (params && params->nprobe > 0) ? static_cast<size_t>(params->nprobe)
                                                        : ivfIndex->nprobe;
            ivf.sel = const_cast<faiss::IDSelector *>(selector);
            chosen = &ivf;
        } else if (auto *hnswIndex = dynamic_cast<const faiss::IndexHNSW *>(inner)) {
            hnsw.efSearch = (params && params->ef_search > 0) ? static_cast<int>(params->ef_search)
                                                              : hnswIndex->hnsw.efSearch;
            hnsw.sel = const_cast<faiss::IDSelector *>(selector);
            chosen = &hnsw;
        } else if (selector) {
            plain.sel = const_cast<faiss::IDSelector *>(selector);
            chosen = &plain;
        }
        // One query gains nothing from an OpenMP team, and on a busy machine waiting for the
        // team to assemble costs milliseconds: run single queries on the calling thread.
        int threads = omp_get_max_threads();
        if (n == 1) omp_set_num_threads(1);
        try {
            inner->search(n, queries, k, distances, labels, chosen);
        } catch (...) {
            omp_set_num_threads(threads);
            throw;
        }
        omp_set_num_threads(threads);
        if (map) {
            for (int64_t i = 0; i < n * k; i++) {
                if (labels[i] >= 0) labels[i] = map->id_map[labels[i]];
            }
        }
    });
}

char *cfaiss_index_set_parameter(cfaiss_index *index, const char *name, double value) {
    return guarded([&] {
        faiss::ParameterSpace space;
        space.set_index_parameter(index->index.get(), name, value);
    });
}

char *cfaiss_write_index(const cfaiss_index *index, const char *path) {
    return guarded([&] { faiss::write_index(index->index.get(), path); });
}

char *cfaiss_read_index(const char *path, cfaiss_index **out) {
    *out = nullptr;
    return guarded([&] {
        std::unique_ptr<faiss::Index> index(faiss::read_index(path));
        *out = new cfaiss_index{std::move(index)};
    });
}

char *cfaiss_index_kind(const cfaiss_index *index) {
    const faiss::Index *outer = index->index.get();
    const faiss::Index *inner = unwrap(outer);
    if (dynamic_cast<const faiss::IndexHNSW *>(inner)) return copy_message("hnsw");
    if (dynamic_cast<const faiss::IndexIVF *>(inner)) return copy_message("ivf");
    return copy_message("flat");
}

int64_t cfaiss_index_nlist(const cfaiss_index *index) {
    if (auto *ivf = dynamic_cast<const faiss::IndexIVF *>(unwrap(index->index.get()))) {
        return static_cast<int64_t>(ivf->nlist);
    }
    return 0;
}

char *cfaiss_index_labels(const cfaiss_index *index, int64_t *out, int64_t capacity) {
    return guarded([&] {
        const faiss::Index *outer = index->index.get();
        FAISS_THROW_IF_NOT_MSG(capacity >= outer->ntotal, "label buffer too small");
        if (auto *map = dynamic_cast<const faiss::IndexIDMap *>(outer)) {
            std::copy(map->id_map.begin(), map->id_map.end(), out);
        } else if (auto *ivf = dynamic_cast<const faiss::IndexIVF *>(outer)) {
            int64_t at = 0;
            for (size_t list = 0; list < ivf->nlist; list++) {
                size_t size = ivf->invlists->list_size(list);
                if (size == 0) continue;
                faiss::InvertedLists::ScopedIds ids(ivf->invlists, list);
                std::copy(ids.get(), ids.get() + size, out + at);
                at += static_cast<int64_t>(size);
            }
        } else {
            for (int64_t i = 0; i < outer->ntotal; i++) out[i] = i;
        }
    });
}

void cfaiss_set_num_threads(int threads) { omp_set_num_threads(threads); }

} // extern "C"

// OpenBLAS's own thread count (it does not follow OpenMP's).
extern "C" void openblas_set_num_threads(int threads);

extern "C" {

void cfaiss_set_blas_threads(int threads) { openblas_set_num_threads(threads); }

int cfaiss_set_thread_nice(int nice) {
#ifdef __linux__
    return setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
#else
    (void)nice;
    return 0;
#endif
}

int cfaiss_simd_level(void) {
    // One choice for all of Engram's kernels (CKernels: CPUID and ENGRAM_SIMD).
    return std::min(ek_simd_level(), static_cast<int>(cfaiss_simd_avx512));
}

void cfaiss_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

} // extern "C"
