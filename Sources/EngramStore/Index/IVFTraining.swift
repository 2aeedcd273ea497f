import CFaiss
import EngramBase
import Foundation
import Synchronization

/// Training of the IVF centroids: two-level spherical k-means, refined by flat iterations,
/// over a sample of labels whose vectors are read from the vector file as each step needs
/// them, so that training holds one group's points or one chunk at a time, never the sample.
///
/// Flat k-means costs n × nlist × d per iteration and needs ~40 points per list: for the
/// 1,024 lists of a 100,000-vector index that is about 8 s on one core. Clustering first into
/// √nlist groups, then each group into its share of the lists, costs n × 2√nlist × d per
/// iteration; two flat iterations from those centroids then fix the points stuck on the wrong
/// side of a group boundary (recall at 16 of 1,024 lists on the shared harness's data:
/// two-level alone 0.977, plus two flat iterations 0.994, ten flat iterations from random
/// centroids 0.991; Benchmarks/README.md).
enum IVFTraining {
    /// Points per group that train the first level (a sub-sample of the sample).
    static let level1PointsPerGroup = 256
    /// Vectors read at a time by the streamed passes.
    static let chunkRows = 4096

    /// `nlist` unit centroids (nlist × d) for the vectors of `sample` (`threads` applied
    /// before each clustering and each chunk).
    static func centroids(sample: [Int64], from source: VectorSource, nlist: Int, iterations: Int, refine: Int,
                          seed: Int, threads: BuildThreads? = nil) throws -> [Float] {
        guard !sample.isEmpty, nlist > 0 else { throw EngramError.index("no vectors to train the IVF lists on") }
        let d = source.dimension
        try threads?.applyForTraining()
        if nlist <= 64 || sample.count <= nlist {
            // Small enough to hold: one flat k-means.
            let rows = try source.rows(sample[...])
            var centroids = try kmeans(rows, dimension: d, k: min(nlist, sample.count), iterations: iterations, seed: seed)
            while centroids.count < nlist * d { centroids.append(contentsOf: rows[0..<d]) }
            return centroids
        }
        // Level 1: √nlist groups, trained on a sub-sample.
        let groups = Int(Double(nlist).squareRoot().rounded(.up))
        let every = max(1, sample.count / (groups * level1PointsPerGroup))
        let level1 = Swift.stride(from: 0, to: sample.count, by: every).map { sample[$0] }
        let top = try kmeans(try source.rows(level1[...]), dimension: d, k: groups, iterations: iterations, seed: seed)
        var members = [[Int64]](repeating: [], count: groups)
        try forEachChunk(sample, from: source, nearestOf: top, threads: threads) { labels, nearest in
            for (label, g) in zip(labels, nearest) { members[Int(g)].append(label) }
        }
        // Level 2: each group into its share of the lists. The groups' k-means are independent:
        // they run on the build's threads (each k-means on one, OpenBLAS's kept at one), the
        // largest first, and their centroids are joined in group order.
        let shares = share(nlist, among: members.map(\.count))
        let order = members.indices.filter { shares[$0] > 0 }.sorted { members[$0].count > members[$1].count }
        let parts = Mutex([[Float]](repeating: [], count: groups))
        FaissIndex.setBLASThreads(1)
        try (threads ?? BuildThreads(1)).forEachItem(order.count) { [members] i in
            let g = order[i]
            FaissIndex.setThreads(1)
            let part = try kmeans(try source.rows(members[g][...]), dimension: d, k: shares[g], iterations: iterations,
                                  seed: seed + g + 1)
            parts.withLock { $0[g] = part }
        }
        var centroids = parts.withLock { $0.flatMap { $0 } }
        guard centroids.count == nlist * d else { throw EngramError.index("two-level k-means made the wrong number of lists") }
        // Flat iterations: each centroid becomes the normalised mean of the points nearest to
        // it (one that no point chose stays where it is).
        for _ in 0..<refine {
            var sums = [Double](repeating: 0, count: nlist * d)
            var counts = [Int](repeating: 0, count: nlist)
            try forEachChunk(sample, from: source, nearestOf: centroids, threads: threads) { labels, nearest, rows in
                // Through pointers, so that the compiler vectorizes the sums of a row.
                sums.withUnsafeMutableBufferPointer { sums in
                    rows.withUnsafeBufferPointer { rows in
                        for (i, c) in nearest.enumerated() {
                            let c = Int(c)
                            counts[c] += 1
                            let sum = sums.baseAddress! + c * d, row = rows.baseAddress! + i * d
                            for j in 0..<d { sum[j] += Double(row[j]) }
                        }
                    }
                }
            }
            for c in 0..<nlist where counts[c] > 0 {
                let norm = (0..<d).reduce(0.0) { $0 + sums[c * d + $1] * sums[c * d + $1] }.squareRoot()
                guard norm > 0 else { continue }
                for j in 0..<d { centroids[c * d + j] = Float(sums[c * d + j] / norm) }
            }
        }
        return centroids
    }

    /// Splits `lists` among groups in proportion to their points (largest remainders), at
    /// least one list to a group with any point.
    static func share(_ lists: Int, among counts: [Int]) -> [Int] {
        let total = Double(counts.reduce(0, +))
        let exact = counts.map { Double(lists) * Double($0) / total }
        var shares = counts.indices.map { counts[$0] == 0 ? 0 : max(1, Int(exact[$0])) }
        var given = shares.reduce(0, +)
        let remainder = exact.map { $0 - $0.rounded(.down) }
        let byRemainder = counts.indices.filter { counts[$0] > 0 }.sorted {
            remainder[$0] != remainder[$1] ? remainder[$0] > remainder[$1] : $0 < $1
        }
        var i = 0
        while given < lists && !byRemainder.isEmpty {
            shares[byRemainder[i % byRemainder.count]] += 1
            given += 1
            i += 1
        }
        while given > lists, let largest = shares.indices.max(by: { shares[$0] < shares[$1] }) {
            shares[largest] -= 1
            given -= 1
        }
        return shares
    }

    /// Spherical k-means of the rows of `x` into `k` centroids.
    private static func kmeans(_ x: [Float], dimension d: Int, k: Int, iterations: Int, seed: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: k * d)
        try x.withUnsafeBufferPointer { x in
            try out.withUnsafeMutableBufferPointer { out in
                try FaissIndex.check(cfaiss_kmeans(Int64(d), Int64(x.count / d), x.baseAddress, Int64(k), Int32(iterations),
                                                   Int32(truncatingIfNeeded: seed), out.baseAddress))
            }
        }
        return out
    }

    /// Reads the vectors of `labels` a chunk at a time and gives each chunk with the index of
    /// the nearest of `centroids` for each of its rows.
    private static func forEachChunk(_ labels: [Int64], from source: VectorSource, nearestOf centroids: [Float],
                                     threads: BuildThreads?,
                                     _ body: (ArraySlice<Int64>, [Int64], [Float]) throws -> Void) throws {
        let assigner = try CentroidAssigner(centroids, dimension: source.dimension)
        for start in Swift.stride(from: 0, to: labels.count, by: chunkRows) {
            let count = try threads?.applyForTraining() ?? 1
            let part = labels[start..<min(start + chunkRows, labels.count)]
            let rows = try source.rows(part)
            let nearest = try rows.withUnsafeBufferPointer { try assigner.nearest($0, threads: count) }
            try body(part, nearest, rows)
        }
    }

    private static func forEachChunk(_ labels: [Int64], from source: VectorSource, nearestOf centroids: [Float],
                                     threads: BuildThreads?, _ body: (ArraySlice<Int64>, [Int64]) throws -> Void) throws {
        try forEachChunk(labels, from: source, nearestOf: centroids, threads: threads) { labels, nearest, _ in try body(labels, nearest) }
    }
}
