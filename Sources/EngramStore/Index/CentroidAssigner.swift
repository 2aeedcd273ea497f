import CFaiss

/// IVF centroids for assigning vectors to their nearest (largest inner product, the first of
/// equal ones): with AVX-512 VNNI the products come from 8-bit integers first, with an error
/// bound that keeps the answer that of the float products (`cfaiss_centroids_nearest`); else
/// from sgemm.
///
/// Thread-safe: immutable after `init`; each assignment uses buffers of its own.
final class CentroidAssigner: Sendable {
    let dimension: Int
    let count: Int
    private nonisolated(unsafe) let handle: OpaquePointer

    /// `centroids` row-major (`count × dimension`), copied. `integerProducts: false` takes
    /// the float products everywhere (tests compare the two).
    init(_ centroids: [Float], dimension: Int, integerProducts: Bool = true) throws {
        precondition(dimension > 0 && centroids.count % dimension == 0)
        self.dimension = dimension
        count = centroids.count / dimension
        var handle: OpaquePointer?
        try FaissIndex.check(cfaiss_centroids_new(centroids, Int64(count), Int64(dimension), integerProducts ? 1 : 0, &handle))
        self.handle = handle!
    }

    deinit { cfaiss_centroids_free(handle) }

    /// Whether the products come from integers first.
    var usesIntegerProducts: Bool { cfaiss_centroids_integer(handle) != 0 }

    /// The index of the nearest centroid to each row of `vectors` (row-major); the integer
    /// products on up to `threads` threads (the float ones on OpenBLAS's, as set).
    func nearest(_ vectors: UnsafeBufferPointer<Float>, threads: Int = 1) throws -> [Int64] {
        precondition(vectors.count % dimension == 0)
        let n = vectors.count / dimension
        var out = [Int64](repeating: 0, count: n)
        try FaissIndex.check(cfaiss_centroids_nearest(handle, vectors.baseAddress, Int64(n), Int32(max(1, threads)), &out))
        return out
    }
}
