// A minimal stand-in for OpenMP's <omp.h>, private to the CFaiss target.
//
// Why: FAISS's HNSW header (faiss/IndexHNSW.h -> faiss/impl/HNSW.h) includes <omp.h>, and
// cfaiss.cpp calls two OpenMP functions. Debian ships omp.h only in GCC's private include
// directory (/usr/lib/gcc/x86_64-linux-gnu/12/include), which Swift's clang does not search
// and which a package cannot add without unsafeFlags (and SwiftPM refuses a versioned
// dependency whose product needs a target with unsafeFlags). Package.swift puts this
// directory on CFaiss's private header search path, so `#include <omp.h>` finds this file.
//
// What: exactly the OpenMP API that the FAISS headers we include and our shim use, declared
// as GCC 12's libgomp declares it in the header above (the library FAISS was built with and
// that CFaiss links, -lgomp):
// - omp_lock_t: named in faiss::HNSW's declarations (1.7.3: add_links_starting_from and
//   add_with_locks take omp_lock_t* / std::vector<omp_lock_t>&). We never create or pass
//   one; it has libgomp's layout (4 bytes, 4-aligned) so that FAISS's declarations mean
//   here what they mean in the library.
// - omp_set_num_threads, omp_get_max_threads: libgomp's C entry points, same signatures.
// Nothing enables OpenMP: _OPENMP stays undefined and `#pragma omp` in FAISS headers is
// ignored, as before (CFaiss was never compiled with -fopenmp).
//
// If a newer FAISS header we include uses another OpenMP name, the compiler names it; add
// its declaration here from the same GCC header.
#ifndef CFAISS_COMPAT_OMP_H
#define CFAISS_COMPAT_OMP_H

/// Simple OpenMP lock (libgomp: `unsigned char _x[4]`, 4-byte aligned; internals private).
typedef struct {
    unsigned char _x[4] __attribute__((__aligned__(4)));
} omp_lock_t;

#ifdef __cplusplus
extern "C" {
#define CFAISS_OMP_NOTHROW noexcept
#else
#define CFAISS_OMP_NOTHROW __attribute__((__nothrow__))
#endif

/// Sets the number of threads used by later parallel regions started from this thread.
void omp_set_num_threads(int threads) CFAISS_OMP_NOTHROW;
/// The number of threads a parallel region started now would use.
int omp_get_max_threads(void) CFAISS_OMP_NOTHROW;

#ifdef __cplusplus
}
#endif
#undef CFAISS_OMP_NOTHROW

#endif
