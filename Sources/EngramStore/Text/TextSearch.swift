import EngramBase
import Foundation

/// BM25 over the full-text postings of one `StoreView` (read through its RocksDB snapshot,
/// so that postings, statistics and catalog agree).
///
/// `bm25(d) = Σ_t idf(t) · tf·(k1+1) / (tf + k1·(1 − b + b·|d|/avgdl))`, with
/// `idf(t) = ln(1 + (N − df + 0.5)/(df + 0.5))` (always positive), where `N`, `df` and `avgdl`
/// count every indexed memory (the filters choose what is returned, not the statistics) and
/// each distinct query term counts once.
struct TextSearch {
    let view: StoreView
    let k1: Double
    let b: Double
    let filter: CompiledFilter

    /// A query term and its collection statistics.
    struct Term {
        var term: String
        var df: Int
        var idf: Double
    }

    /// The BM25 score of every live memory that passes the filter and holds a query term.
    struct Scores {
        /// By label (0: no match; a match always scores above 0).
        var scores: [Double]
        /// The labels that matched, in the order first seen.
        var matched: [Int64]
        var terms: [Term]
        /// Postings read.
        var postings: Int

        static let empty = Scores(scores: [], matched: [], terms: [], postings: 0)

        func score(_ label: Int64) -> Double { Int(label) < scores.count ? scores[Int(label)] : 0 }
    }

    func score(_ terms: [String]) throws -> Scores {
        guard let snapshot = view.snapshot else { throw EngramError.closed }
        let c = view.catalog
        let stats = view.textStats
        let n = Double(stats.documents)
        let avgdl = max(stats.averageLength, 1e-9)
        var scores = [Double](repeating: 0, count: c.labelCount)
        var matched: [Int64] = []
        var termStats: [Term] = []
        var read = 0
        var labels: [Int64] = []
        var partial: [Double] = []
        let checkFilter = filter.needsCheck
        let pending = view.pendingText
        for term in terms {
            labels.removeAll(keepingCapacity: true)
            partial.removeAll(keepingCapacity: true)
            var df = 0
            let prefix = TextIndex.termPrefix(term)
            try snapshot.scan(TextIndex.postings, prefix: prefix) { key, value in
                guard key.count == prefix.count + 4 else { throw EngramError.corrupt("a postings key of '\(term)' is malformed") }
                let block = UInt32(bigEndian: key.loadUnaligned(fromByteOffset: prefix.count, as: UInt32.self))
                try TextIndex.decode(value, block: block) { label, tf, length in
                    // A label with a pending segment event: the segments hold its postings.
                    if !pending.isEmpty && pending.covers(label) { return }
                    df += 1
                    guard Int(label) < c.labelCount, c.isLive(label),
                          !checkFilter || filter.matches(Int(label), in: c) else { return }
                    labels.append(label)
                    partial.append(termWeight(tf: Double(tf), length: Double(length), averageLength: avgdl))
                }
                return true
            }
            pending.forEachPosting(of: term) { posting in
                df += 1
                guard Int(posting.label) < c.labelCount, c.isLive(posting.label),
                      !checkFilter || filter.matches(Int(posting.label), in: c) else { return }
                labels.append(posting.label)
                partial.append(termWeight(tf: Double(posting.tf), length: Double(posting.length), averageLength: avgdl))
            }
            read += df
            let idf = Self.idf(documents: n, df: Double(df))
            termStats.append(Term(term: term, df: df, idf: idf))
            scores.withUnsafeMutableBufferPointer { s in
                for (label, w) in zip(labels, partial) {
                    let l = Int(label)
                    if s[l] == 0 { matched.append(label) }
                    s[l] += idf * w
                }
            }
        }
        return Scores(scores: scores, matched: matched, terms: termStats, postings: read)
    }

    /// What `terms` add to `label`'s score, one entry per matched term (for `explain`).
    func contributions(of label: Int64, _ terms: [Term]) throws -> [TermScore] {
        guard let snapshot = view.snapshot else { throw EngramError.closed }
        let avgdl = max(view.textStats.averageLength, 1e-9)
        let block = TextIndex.block(of: label)
        let pending = view.pendingText
        var out: [TermScore] = []
        for term in terms {
            var found: TextIndex.Posting?
            if pending.covers(label) {
                pending.forEachPosting(of: term.term) { if $0.label == label { found = $0 } }
            } else if let raw = try snapshot.get(TextIndex.postings, TextIndex.blockKey(term.term, block: block)) {
                found = try raw.withUnsafeBytes { try TextIndex.decode($0, block: block) }.first { $0.label == label }
            }
            guard let posting = found else { continue }
            out.append(TermScore(term: term.term, tf: Int(posting.tf),
                                 score: term.idf * termWeight(tf: Double(posting.tf), length: Double(posting.length), averageLength: avgdl)))
        }
        return out
    }

    /// `tf·(k1+1) / (tf + k1·(1 − b + b·length/avgdl))`.
    func termWeight(tf: Double, length: Double, averageLength: Double) -> Double {
        tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / averageLength))
    }

    static func idf(documents n: Double, df: Double) -> Double { log(1 + (n - df + 0.5) / (df + 0.5)) }
}
