import Foundation

/// FAISS's HNSW graph over the full vectors (`IDMap2,HNSW<m>`), shared by every view of the
/// index. FAISS may not search a graph while a vector is being added to it, so searches,
/// adds and writes to disk take turns on one lock.
final class HNSWGraph: @unchecked Sendable {
    private let faiss: FaissIndex
    private let lock = NSLock()

    init(dimension: Int, m: Int, efSearch: Int) throws {
        faiss = try FaissIndex.make(dimension: dimension, description: "IDMap2,HNSW\(m)")
        try faiss.setParameter("efSearch", Double(efSearch))
    }

    init(reading path: String) throws { faiss = try FaissIndex.read(path: path) }

    var dimension: Int { faiss.dimension }
    var count: Int { lock.withLock { faiss.count } }

    func add(_ vectors: UnsafeBufferPointer<Float>, labels: [Int64]) throws {
        try lock.withLock { try faiss.add(vectors, labels: labels) }
    }

    func search(_ query: UnsafeBufferPointer<Float>, k: Int, efSearch: Int, allowed: [UInt8]?) throws -> [(label: Int64, score: Float)] {
        try lock.withLock { try faiss.search(query, k: k, efSearch: efSearch, allowed: allowed) }
    }

    func allLabels() throws -> [Int64] { try lock.withLock { try faiss.allLabels() } }

    func write(to path: String) throws { try lock.withLock { try faiss.write(to: path) } }
}
