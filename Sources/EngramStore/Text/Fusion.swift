import HeapModule

/// One candidate list: labels best first, with their scores (cosine or BM25).
struct RankedList {
    var labels: [Int64] = []
    var scores: [Double] = []

    /// The `n` best of `labels` by `score`: score descending, then label ascending (older first).
    init(best n: Int, of labels: [Int64], score: (Int64) -> Double) {
        var entries: [Entry]
        if labels.count <= n {
            entries = labels.map { Entry(label: $0, score: score($0)) }
        } else {
            // A bounded min-heap: its minimum is the worst of the best n so far.
            var heap = Heap<Entry>()
            for label in labels {
                let entry = Entry(label: label, score: score(label))
                if heap.count < n {
                    heap.insert(entry)
                } else if let worst = heap.min, worst < entry {
                    heap.replaceMin(with: entry)
                }
            }
            entries = heap.unordered
        }
        entries.sort(by: >)
        self.labels = entries.map(\.label)
        self.scores = entries.map(\.score)
    }

    init(labels: [Int64], scores: [Double]) {
        self.labels = labels
        self.scores = scores
    }

    var count: Int { labels.count }

    /// Ordered worst first: a lower score, or the same score and a larger label.
    private struct Entry: Comparable {
        var label: Int64
        var score: Double
        static func < (a: Entry, b: Entry) -> Bool { a.score != b.score ? a.score < b.score : a.label > b.label }
    }
}

/// Fuses the vector and the text lists into one relevance per memory, in [0, 1] for
/// `minmax` and `rrf` (≥ 0 for `zscore`). Normalisation is over each list's own candidates:
/// its lowest member gets 0 under `minmax` and `zscore` (1 when all its scores are equal),
/// and a memory absent from a list gets 0 from it. So a memory in neither list has
/// relevance exactly 0 under every method, and can only enter a decayed top-k through
/// recency and importance: what keeps that top-k exact (see `MemoryStore.query`).
enum Fusion {
    /// `(1 − wText)·vector + wText·text`, each list normalised by `method`.
    static func fuse(vector: RankedList?, text: RankedList?, method: FusionMethod, wText: Double,
                     rrfK: Int) -> [Int64: Double] {
        var fused: [Int64: Double] = [:]
        for (list, weight) in [(vector, 1 - wText), (text, wText)] {
            guard let list, weight > 0 else { continue }
            let parts = normalised(list, method: method, rrfK: rrfK)
            for (label, part) in zip(list.labels, parts) { fused[label, default: 0] += weight * part }
        }
        // Members of a list whose weight is 0 are still candidates (relevance 0 from it).
        for list in [vector, text] { for label in list?.labels ?? [] where fused[label] == nil { fused[label] = 0 } }
        return fused
    }

    /// Each member's share of the list, by `method` (see `FusionMethod`).
    static func normalised(_ list: RankedList, method: FusionMethod, rrfK: Int) -> [Double] {
        let scores = list.scores
        guard let lo = scores.min(), let hi = scores.max() else { return [] }
        switch method {
        case .minmax:
            return hi > lo ? scores.map { ($0 - lo) / (hi - lo) } : scores.map { _ in 1 }
        case .zscore:
            let mean = scores.reduce(0, +) / Double(scores.count)
            let deviation = (scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(scores.count)).squareRoot()
            // Shifted by the lowest z-score, so that the list's last member, like a memory
            // absent from it, gets 0.
            return deviation > 0 ? scores.map { ($0 - lo) / deviation } : scores.map { _ in 1 }
        case .rrf:
            let k = Double(rrfK)
            return (0..<scores.count).map { (k + 1) / (k + Double($0 + 1)) }
        }
    }
}
