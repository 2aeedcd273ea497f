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
        var scores: [Int64: Double]
        var terms: [Term]
        /// Postings read.
        var postings: Int
    }

    func score(_ terms: [String]) throws -> Scores {
        guard let snapshot = view.snapshot else { throw EngramError.closed }
        let c = view.catalog
        let stats = view.textStats
        let n = Double(stats.documents)
        let avgdl = max(stats.averageLength, 1e-9)
        var scores: [Int64: Double] = [:]
        var termStats: [Term] = []
        var read = 0
        var labels: [Int64] = []
        var partial: [Double] = []
        for term in terms {
            labels.removeAll(keepingCapacity: true)
            partial.removeAll(keepingCapacity: true)
            var df = 0
            try snapshot.scan(TextIndex.postings, prefix: TextIndex.termPrefix(term)) { key, value in
                df += 1
                let label = TextIndex.label(ofPosting: key)
                guard Int(label) < c.labelCount, c.isLive(label),
                      !filter.needsCheck || filter.matches(Int(label), in: c) else { return true }
                let (tf, length) = try TextIndex.posting(value)
                labels.append(label)
                partial.append(termWeight(tf: Double(tf), length: Double(length), averageLength: avgdl))
                return true
            }
            read += df
            let idf = Self.idf(documents: n, df: Double(df))
            termStats.append(Term(term: term, df: df, idf: idf))
            for (label, w) in zip(labels, partial) { scores[label, default: 0] += idf * w }
        }
        return Scores(scores: scores, terms: termStats, postings: read)
    }

    /// What `terms` add to `label`'s score, one entry per matched term (for `explain`).
    func contributions(of label: Int64, _ terms: [Term]) throws -> [TermScore] {
        guard let snapshot = view.snapshot else { throw EngramError.closed }
        let avgdl = max(view.textStats.averageLength, 1e-9)
        var out: [TermScore] = []
        for term in terms {
            guard let raw = try snapshot.get(TextIndex.postings, TextIndex.postingKey(term.term, label: label)) else { continue }
            let (tf, length) = try raw.withUnsafeBytes(TextIndex.posting)
            out.append(TermScore(term: term.term, tf: Int(tf),
                                 score: term.idf * termWeight(tf: Double(tf), length: Double(length), averageLength: avgdl)))
        }
        return out
    }

    /// `tf·(k1+1) / (tf + k1·(1 − b + b·length/avgdl))`.
    func termWeight(tf: Double, length: Double, averageLength: Double) -> Double {
        tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / averageLength))
    }

    static func idf(documents n: Double, df: Double) -> Double { log(1 + (n - df + 0.5) / (df + 0.5)) }
}
