import EngramBase
import CFaiss
import Foundation

/// Owns one FAISS index through the C shim. Not thread-safe; `MemoryStore` serialises access.
///
/// Vectors are row-major `n * dimension` floats; labels are Engram's 64-bit internal labels.
final class FaissIndex {
    private let handle: OpaquePointer
    let dimension: Int

    private init(handle: OpaquePointer) {
        self.handle = handle
        self.dimension = Int(cfaiss_index_dimension(handle))
    }

    deinit { cfaiss_index_free(handle) }

    /// Builds an inner-product index from a FAISS factory description
    /// (e.g. `IDMap2,Flat`, `IVF256,Flat`, `IDMap2,HNSW32`).
    static func make(dimension: Int, description: String) throws -> FaissIndex {
        var out: OpaquePointer?
        try check(cfaiss_index_factory(Int32(dimension), description, 1, &out))
        return FaissIndex(handle: out!)
    }

    static func read(path: String) throws -> FaissIndex {
        var out: OpaquePointer?
        try check(cfaiss_read_index(path, &out))
        return FaissIndex(handle: out!)
    }

    var count: Int { Int(cfaiss_index_ntotal(handle)) }
    var isTrained: Bool { cfaiss_index_is_trained(handle) != 0 }
    var nlist: Int { Int(cfaiss_index_nlist(handle)) }

    /// "flat", "ivf" or "hnsw".
    var kind: String {
        let raw = cfaiss_index_kind(handle)!
        defer { cfaiss_free_error(raw) }
        return String(cString: raw)
    }

    /// Whether `remove(labels:)` is supported (HNSW graphs cannot forget vectors).
    var supportsRemoval: Bool { kind != "hnsw" }

    func train(_ vectors: UnsafeBufferPointer<Float>, kmeansIterations: Int = 0) throws {
        precondition(vectors.count % dimension == 0)
        try Self.check(cfaiss_index_train(handle, Int64(vectors.count / dimension), vectors.baseAddress,
                                          Int32(kmeansIterations)))
    }

    func add(_ vectors: UnsafeBufferPointer<Float>, labels: [Int64]) throws {
        precondition(vectors.count == labels.count * dimension)
        guard !labels.isEmpty else { return }
        try Self.check(cfaiss_index_add_with_ids(handle, Int64(labels.count), vectors.baseAddress, labels))
    }

    @discardableResult
    func remove(labels: [Int64]) throws -> Int {
        guard !labels.isEmpty else { return 0 }
        var removed: Int64 = 0
        try Self.check(cfaiss_index_remove_ids(handle, Int64(labels.count), labels, &removed))
        return Int(removed)
    }

    /// Top-`k` by inner product for one query. Missing results (label -1) are dropped.
    /// `allowed`, when given, is a bitmap over labels (bit l set = label l may be returned).
    func search(_ query: UnsafeBufferPointer<Float>, k: Int, nprobe: Int = 0, efSearch: Int = 0,
                allowed: [UInt8]? = nil) throws -> [(label: Int64, score: Float)] {
        precondition(query.count == dimension)
        return try search(batch: query, k: k, nprobe: nprobe, efSearch: efSearch, allowed: allowed)[0]
    }

    /// `search` of each of `queries.count / dimension` queries (row-major), in their order.
    /// On a flat index a query's results are those it gets alone, and a few queries cost less
    /// together (`cfaiss_index_search` scores them in one pass over the rows).
    func search(batch queries: UnsafeBufferPointer<Float>, k: Int, nprobe: Int = 0, efSearch: Int = 0,
                allowed: [UInt8]? = nil) throws -> [[(label: Int64, score: Float)]] {
        precondition(queries.count % dimension == 0)
        let n = queries.count / dimension
        guard k > 0, count > 0 else { return Array(repeating: [], count: n) }
        var distances = [Float](repeating: 0, count: n * k)
        var labels = [Int64](repeating: -1, count: n * k)
        func run(_ bitmap: UnsafePointer<UInt8>?, _ bytes: Int) throws {
            var params = cfaiss_search_params(nprobe: Int64(nprobe), ef_search: Int64(efSearch),
                                              bitmap: bitmap, bitmap_bytes: bytes)
            try Self.check(cfaiss_index_search(handle, Int64(n), queries.baseAddress, Int64(k), &params, &distances, &labels))
        }
        if let allowed {
            try allowed.withUnsafeBufferPointer { try run($0.baseAddress, $0.count) }
        } else {
            try run(nil, 0)
        }
        return (0..<n).map { j in
            (j * k..<(j + 1) * k).compactMap { i in labels[i] >= 0 ? (labels[i], distances[i]) : nil }
        }
    }

    /// Every label stored in the index (including tombstoned ones in HNSW).
    func allLabels() throws -> [Int64] {
        var out = [Int64](repeating: -1, count: count)
        try Self.check(cfaiss_index_labels(handle, &out, Int64(out.count)))
        return out
    }

    func setParameter(_ name: String, _ value: Double) throws {
        try Self.check(cfaiss_index_set_parameter(handle, name, value))
    }

    func write(to path: String) throws {
        try Self.check(cfaiss_write_index(handle, path))
    }

    /// Number of OpenMP threads FAISS may use (process-wide default for new parallel regions).
    static func setThreads(_ threads: Int) { cfaiss_set_num_threads(Int32(max(1, threads))) }

    /// Asks for `threads` OpenBLAS threads for FAISS's matrix products (process-wide; the
    /// thread budget decides, see `ThreadBudget.configureBLAS`).
    static func setBLASThreads(_ threads: Int) {
        ThreadBudget.configureBLAS(for: .faiss(threads: threads)) { cfaiss_set_blas_threads($0) }
    }

    static func check(_ error: UnsafeMutablePointer<CChar>?) throws {
        guard let error else { return }
        let message = String(cString: error)
        cfaiss_free_error(error)
        throw EngramError.index(message)
    }
    private func check(_ error: UnsafeMutablePointer<CChar>?) throws { try Self.check(error) }
}
