import CFaiss
import EngramBase
import Foundation

/// An inverted-file partition of the labels: `nlist` centroids (two-level spherical k-means)
/// and, for each, the labels of the vectors nearest to it. A query scans the lists of the
/// centroids nearest to it.
///
/// Lists keep the labels of deleted memories until `compact` (scans skip labels that are not
/// live). A value: the views queries read share the lists until a writer appends to one
/// (then only that list is copied).
struct IVFLists: @unchecked Sendable {
    let dimension: Int
    let centroids: [Float]
    private(set) var lists: [[Int64]]
    /// Entries in the lists, live or dead.
    private(set) var entries = 0
    /// The centroids as a flat inner-product index, for probing (never changed after `init`;
    /// FAISS searches of a flat index may run concurrently).
    private let quantizer: FaissIndex
    /// The centroids for assignment, made by the first `add`.
    private let assigner: LazyCentroidAssigner

    var nlist: Int { lists.count }

    init(dimension: Int, centroids: [Float], lists: [[Int64]]) throws {
        self.dimension = dimension
        self.centroids = centroids
        self.lists = lists
        entries = lists.reduce(0) { $0 + $1.count }
        assigner = LazyCentroidAssigner(centroids, dimension: dimension)
        let quantizer = try FaissIndex.make(dimension: dimension, description: "IDMap2,Flat")
        try centroids.withUnsafeBufferPointer { try quantizer.add($0, labels: (0..<Int64(lists.count)).map { $0 }) }
        self.quantizer = quantizer
    }

    /// Flat k-means iterations after the two-level ones.
    static let refineIterations = 2

    /// Trains `nlist` lists on the vectors of `sample` (see `IVFTraining`), empty.
    static func train(sample: [Int64], from source: VectorSource, nlist: Int, iterations: Int,
                      threads: BuildThreads? = nil) throws -> IVFLists {
        let centroids = try IVFTraining.centroids(sample: sample, from: source, nlist: nlist, iterations: iterations,
                                                  refine: refineIterations, seed: 1234, threads: threads)
        return try IVFLists(dimension: source.dimension, centroids: centroids, lists: Array(repeating: [], count: nlist))
    }

    /// Adds `labels` with their vectors (row-major), each to the list of its nearest centroid
    /// (found on up to `threads` threads).
    mutating func add(labels: [Int64], vectors: UnsafeBufferPointer<Float>, threads: Int = 1) throws {
        guard !labels.isEmpty else { return }
        precondition(vectors.count == labels.count * dimension)
        let nearest = try assigner.assigner().nearest(vectors, threads: threads)
        for (label, list) in zip(labels, nearest) { lists[Int(list)].append(label) }
        entries += labels.count
    }

    /// The `count` lists whose centroids are nearest to `query`, nearest first.
    func probe(_ query: [Float], count: Int) throws -> [Int] {
        try query.withUnsafeBufferPointer { try quantizer.search($0, k: min(count, nlist)) }.map { Int($0.label) }
    }

    /// `probe` of several queries at once: for each (query, count), the `count` nearest lists,
    /// the same as `probe` gives, found in fewer passes over the centroids.
    func probe(batch: [(query: [Float], count: Int)]) throws -> [[Int]] {
        guard let most = batch.map(\.count).max() else { return [] }
        // The nearest `most` in order, cut to each count: the scan keeps the best under
        // (score descending, list ascending), so its first `count` are its top-`count`.
        let queries = batch.flatMap(\.query)
        let nearest = try queries.withUnsafeBufferPointer { try quantizer.search(batch: $0, k: min(most, nlist)) }
        return zip(nearest, batch).map { found, wanted in found.prefix(min(wanted.count, nlist)).map { Int($0.label) } }
    }

    /// Drops the labels for which `keep` is false.
    mutating func compact(keeping keep: (Int64) -> Bool) {
        for i in lists.indices { lists[i].removeAll { !keep($0) } }
        entries = lists.reduce(0) { $0 + $1.count }
    }
}
