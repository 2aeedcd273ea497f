// A narrow C interface over the FAISS C++ library (Debian's libfaiss.a has no C API
// compiled in). Every function that can fail returns NULL on success or an error message
// allocated with malloc, which the caller releases with cfaiss_free_error. No C++ exception
// ever crosses this boundary.
#ifndef CFAISS_H
#define CFAISS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Opaque handle to a faiss::Index.
typedef struct cfaiss_index cfaiss_index;

void cfaiss_free_error(char *error);

/// Builds an index with faiss::index_factory. `metric_inner_product` selects
/// METRIC_INNER_PRODUCT (else L2).
char *cfaiss_index_factory(int dimension, const char *description, int metric_inner_product,
                           cfaiss_index **out);
void cfaiss_index_free(cfaiss_index *index);

int cfaiss_index_dimension(const cfaiss_index *index);
int64_t cfaiss_index_ntotal(const cfaiss_index *index);
int cfaiss_index_is_trained(const cfaiss_index *index);

/// Trains on `n` vectors (row-major, n * d floats). For IVF indexes, `kmeans_iterations`
/// (> 0) overrides the number of k-means iterations used to find the centroids.
char *cfaiss_index_train(cfaiss_index *index, int64_t n, const float *vectors,
                         int kmeans_iterations);
/// Spherical k-means of `n` unit vectors (n × d floats) into `k` centroids written to `out`
/// (k × d), `niter` iterations; with `k` ≥ `n`, each point is a centroid (the first repeats).
char *cfaiss_kmeans(int64_t d, int64_t n, const float *vectors, int64_t k, int niter, int seed, float *out);
/// Centroids to assign vectors to, by inner product (see assign.cpp): `k` rows of `d` floats,
/// copied. With `integer_products` and a CPU with AVX-512 VNNI or AVX2 (and `d` a multiple of
/// 32), the products come from 8-bit integers first, with an error bound that keeps the answer
/// that of the float products.
typedef struct cfaiss_centroids cfaiss_centroids;
char *cfaiss_centroids_new(const float *centroids, int64_t k, int64_t d, int integer_products, cfaiss_centroids **out);
void cfaiss_centroids_free(cfaiss_centroids *centroids);
/// Whether the products of `centroids` come from integers first.
int cfaiss_centroids_integer(const cfaiss_centroids *centroids);
/// For each of the `n` rows of `x` (n × d), the index of the centroid with the largest inner
/// product computed in floats (the first of equal ones) into `out`, the integer products on up
/// to `threads` threads (the float ones on OpenBLAS's). Safe to call from several threads at once.
char *cfaiss_centroids_nearest(const cfaiss_centroids *centroids, const float *x, int64_t n, int threads, int64_t *out);

/// Adds `n` vectors with caller-chosen 64-bit labels.
char *cfaiss_index_add_with_ids(cfaiss_index *index, int64_t n, const float *vectors,
                                const int64_t *labels);
/// Removes the given labels; `removed` receives how many were present.
char *cfaiss_index_remove_ids(cfaiss_index *index, int64_t n, const int64_t *labels,
                              int64_t *removed);

/// Search parameters. Zero (or a NULL bitmap) means "leave the index default".
typedef struct cfaiss_search_params {
    /// IVF: how many inverted lists to visit.
    int64_t nprobe;
    /// HNSW: size of the dynamic candidate list.
    int64_t ef_search;
    /// If non-NULL, only labels whose bit is set are considered:
    /// label l is selected iff l / 8 < bitmap_bytes and bit (l % 8) of bitmap[l / 8] is 1.
    const uint8_t *bitmap;
    size_t bitmap_bytes;
} cfaiss_search_params;

/// Searches `n` queries for their `k` nearest neighbours. `distances` and `labels` have
/// room for n * k entries; missing results are padded with label -1.
char *cfaiss_index_search(const cfaiss_index *index, int64_t n, const float *queries, int64_t k,
                          const cfaiss_search_params *params, float *distances, int64_t *labels);

/// Sets a runtime parameter through faiss::ParameterSpace (e.g. "nprobe", "efSearch").
char *cfaiss_index_set_parameter(cfaiss_index *index, const char *name, double value);

/// Writes the index to `path` (the caller takes care of atomic replacement).
char *cfaiss_write_index(const cfaiss_index *index, const char *path);
char *cfaiss_read_index(const char *path, cfaiss_index **out);

/// Describes the concrete index ("IndexIDMap2<IndexFlat>", "IndexIVFFlat", ...).
/// Returns a malloc'ed string the caller frees with cfaiss_free_error.
char *cfaiss_index_kind(const cfaiss_index *index);
/// For IVF indexes: the number of inverted lists, else 0.
int64_t cfaiss_index_nlist(const cfaiss_index *index);

/// Copies every label stored in the index into `out` (room for cfaiss_index_ntotal entries).
/// Works for IDMap-wrapped and IVF indexes; other indexes report their sequential ids.
char *cfaiss_index_labels(const cfaiss_index *index, int64_t *out, int64_t capacity);

/// out[i] = dot(query, base + rows[i] * d) for i < n: the exact-scan kernel (AVX2/FMA when
/// the CPU has them).
void cfaiss_dot_rows(const float *query, const float *base, size_t d, const int64_t *rows, size_t n,
                     float *out);

/// Instruction sets the scan kernels have variants for.
enum { cfaiss_simd_portable = 0, cfaiss_simd_avx2 = 1, cfaiss_simd_avx512 = 2 };

/// The variant the kernels use: `ek_simd_level()` (CKernels: the best the CPU has, or lower
/// when the environment variable ENGRAM_SIMD names a lower one), capped at AVX-512.
int cfaiss_simd_level(void);

/// Encodes the d floats of `x` as 8-bit codes (see sq8.cpp): c_j = (x_j − vmin_j)/step_j
/// rounded half away from zero and clamped to 0…255; returns Σ_j (x_j − (vmin_j + c_j·step_j))²
/// in double, summed in the order of j. `x` must be finite and every step positive.
double cfaiss_sq8_encode(const float *x, const float *vmin, const float *step, size_t d, uint8_t *codes);

/// out[i] = bias + Σ_j qs[j] · code_j(labels[i]): approximate inner products against 8-bit
/// scalar-quantized rows (see sq8.cpp for the encoding), stored in chunks of 2^chunk_shift
/// rows of d bytes, with the variant of `cfaiss_simd_level`.
void cfaiss_sq8_scores(const float *qs, float bias, const uint8_t *const *chunks, int chunk_shift, size_t d,
                       const int64_t *labels, size_t n, float *out);
/// The same with the variant `level` (at most the CPU's), for tests that compare variants.
void cfaiss_sq8_scores_at(int level, const float *qs, float bias, const uint8_t *const *chunks, int chunk_shift,
                          size_t d, const int64_t *labels, size_t n, float *out);

/// For tests of the flat scan's kernels with the variant `level` (at most the CPU's): out[j] =
/// queries[j] · b as a search of n queries scores them (a few together), alone[j] the same
/// product as a single query's search does.
void cfaiss_dot_many_at(int level, const float *queries, size_t n, const float *b, size_t d, float *out, float *alone);

/// Number of threads OpenBLAS uses (process-wide), for FAISS's matrix products.
void cfaiss_set_blas_threads(int threads);

/// Sets the calling thread's nice value (Linux threads have their own); 0 on success.
int cfaiss_set_thread_nice(int nice);

/// Returns the free pages of the C heap to the system (glibc's `malloc_trim`; a no-op
/// elsewhere). Large transient buffers (training samples, build chunks) leave freed memory
/// in malloc's arenas that would otherwise count in the process's RSS for good.
void cfaiss_release_free_memory(void);

/// Number of OpenMP threads FAISS uses.
void cfaiss_set_num_threads(int threads);

#ifdef __cplusplus
}
#endif
#endif
