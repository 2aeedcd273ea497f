import EngramBase
import Foundation

/// The second embedding of context windows (`[text] context_window = w`): besides its own
/// embedding, a memory of a thread is represented by its window's, the normalised sum of the
/// own (unit) embeddings of the memories within `w` places of it in its thread, itself
/// included: their mean direction. It is computed at query time from the stored vectors, so
/// nothing is embedded again when a neighbour arrives, changes or goes, and a rebuild or a
/// change of the window needs no embedder.
///
/// In hybrid retrieval the vector list ranks each memory by the mean of its own cosine and its
/// window's: a memory is found through its context, and still ranks first when it alone
/// matches (on `Data/eval`, the mean beat both the window alone and the better of the two).
/// A memory outside any thread is its own window. Windows are symmetric (a is in b's window exactly when b is in a's), so the
/// memories whose window holds one of the own-embedding candidates are the union of the
/// candidates' windows: each of them that passes the filter is scored exactly. A memory
/// whose window is near the query while no member's own embedding is among the candidates
/// is not found (as with any ANN candidate list).
struct WindowVectors {
    let view: StoreView
    let threads: ThreadIndex
    let size: Int
    /// The unit query vector.
    let query: [Float]
    /// Full vectors read so far (a window's members are shared with its neighbours').
    private var rows: [Int64: [Float]] = [:]

    init(view: StoreView, threads: ThreadIndex, size: Int, query: [Float]) {
        self.view = view
        self.threads = threads
        self.size = size
        self.query = query
    }

    /// The `n` best memories of the candidates' windows by `(own cosine + window cosine) / 2`;
    /// `candidates` are the own-embedding hits (exact cosines).
    mutating func rank(_ candidates: [Hit], filter: CompiledFilter, best n: Int) throws -> RankedList {
        let catalog = view.catalog
        var own: [Int64: Double] = [:]
        for hit in candidates { own[hit.label] = hit.similarity }
        var scores: [Int64: Double] = [:]
        for hit in candidates {
            for label in window(of: hit.label) where scores[label] == nil {
                guard !filter.needsCheck || filter.matches(Int(label), in: catalog) else { continue }
                let ownCosine = try own[label] ?? cosine(row(label))
                scores[label] = (ownCosine + (try windowCosine(of: label))) / 2
            }
        }
        return RankedList(best: n, of: Array(scores.keys), score: { scores[$0]! })
    }

    /// The cosine of the query and `label`'s window embedding.
    mutating func windowCosine(of label: Int64) throws -> Double {
        let members = window(of: label)
        if members.count == 1 { return try cosine(row(label)) }
        var sum = [Float](repeating: 0, count: query.count)
        for member in members {
            let r = try row(member)
            for i in sum.indices { sum[i] += r[i] }
        }
        var norm: Float = 0
        for x in sum { norm += x * x }
        return norm > 0 ? cosine(sum) / Double(norm.squareRoot()) : 0
    }

    /// `label` and its neighbours within `size` places in its thread, in thread order.
    private func window(of label: Int64) -> [Int64] {
        let catalog = view.catalog
        guard let key = threads.key(of: label, in: catalog) else { return [label] }
        return threads.window(of: threads.entry(of: label, in: catalog), in: key, size: size)
    }

    private func cosine(_ row: [Float]) -> Double {
        var dot: Float = 0
        for i in row.indices { dot += row[i] * query[i] }
        return Double(dot)
    }

    private mutating func row(_ label: Int64) throws -> [Float] {
        if let cached = rows[label] { return cached }
        let row = try [Float](unsafeUninitializedCapacity: query.count) { buffer, count in
            try view.vectors.read(label, into: buffer.baseAddress!)
            count = query.count
        }
        rows[label] = row
        return row
    }
}
