import CFaiss
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
/// A memory outside any thread is its own window. Windows are symmetric (a is in b's window
/// exactly when b is in a's), so the memories whose window holds one of the own-embedding
/// candidates are the union of the candidates' windows: each of them that passes the filter
/// is scored exactly. A memory whose window is near the query while no member's own
/// embedding is among the candidates is not found (as with any ANN candidate list).
struct WindowVectors {
    let view: StoreView
    let threads: ThreadIndex
    let size: Int
    /// The unit query vector.
    let query: [Float]

    /// The `n` best memories of the candidates' windows by `(own cosine + window cosine) / 2`;
    /// `candidates` are the own-embedding hits.
    func rank(_ candidates: [Hit], filter: CompiledFilter, best n: Int) throws -> RankedList {
        let catalog = view.catalog
        // Who is scored (the candidates' windows, filtered), and the windows of those.
        var windows: [Int64: [Int64]] = [:]
        var rejected = Set<Int64>()
        for hit in candidates {
            for label in window(of: hit.label) where windows[label] == nil && !rejected.contains(label) {
                guard !filter.needsCheck || filter.matches(Int(label), in: catalog) else {
                    rejected.insert(label)
                    continue
                }
                windows[label] = window(of: label)
            }
        }
        // Every member's vector, read once, and its cosine with the query.
        var members = Set<Int64>()
        for window in windows.values { members.formUnion(window) }
        let labels = members.sorted()
        var row: [Int64: Int] = [:]
        row.reserveCapacity(labels.count)
        for (i, label) in labels.enumerated() { row[label] = i }
        let d = query.count
        let rows = try view.vectors.rows(labels[...])
        var cosines = [Float](repeating: 0, count: labels.count)
        var scores: [Int64: Double] = [:]
        scores.reserveCapacity(windows.count)
        var sum = [Float](repeating: 0, count: d)
        var first: Int64 = 0
        rows.withUnsafeBufferPointer { r in
            // The exact-scan kernel of vector queries, over rows 0..<count of `rows`.
            let all = Array(0..<Int64(labels.count))
            cfaiss_dot_rows(query, r.baseAddress, d, all, labels.count, &cosines)
            sum.withUnsafeMutableBufferPointer { s in
                for (label, window) in windows {
                    let own = Double(cosines[row[label]!])
                    guard window.count > 1 else {
                        scores[label] = own
                        continue
                    }
                    // cos(q, Σv) = Σ cos(q, v) / ‖Σv‖ (q and every v are unit vectors).
                    s.update(repeating: 0)
                    var dots = 0.0
                    for member in window {
                        let i = row[member]!
                        dots += Double(cosines[i])
                        let v = r.baseAddress! + i * d
                        for j in 0..<d { s[j] += v[j] }
                    }
                    var squared: Float = 0
                    cfaiss_dot_rows(s.baseAddress, s.baseAddress, d, &first, 1, &squared)
                    let norm = Double(squared).squareRoot()
                    scores[label] = (own + (norm > 0 ? dots / norm : 0)) / 2
                }
            }
        }
        return RankedList(best: n, of: Array(scores.keys), score: { scores[$0]! })
    }

    /// `label` and its neighbours within `size` places in its thread, in thread order.
    private func window(of label: Int64) -> [Int64] {
        let catalog = view.catalog
        guard let key = threads.key(of: label, in: catalog) else { return [label] }
        return threads.window(of: threads.entry(of: label, in: catalog), in: key, size: size)
    }
}
