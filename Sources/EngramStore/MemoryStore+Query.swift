import EngramBase
import CFaiss
import Foundation

extension MemoryStore {
    /// The `k` best memories under
    /// `score = wSim·similarity + wTime·0.5^(age/halfLife) + wImp·importance`.
    ///
    /// Filters are exact. The top-k under the score is exact given the ANN index's
    /// candidates: memories the index does not return can only enter through the recency
    /// or importance terms, and every memory whose recency and importance could still beat
    /// the k-th score (with its similarity bounded by the ANN frontier) is scored exactly.
    /// With a flat index, or when few memories match the filter, the scan is exhaustive.
    public func query(_ q: MemoryQuery) throws -> QueryResult {
        guard q.k > 0, q.k <= 10_000 else { throw EngramError.invalidArgument("k must be between 1 and 10000") }
        let defaults = settings.scoring
        let w = Weights(sim: q.scoring.wSim ?? defaults.wSim, time: q.scoring.wTime ?? defaults.wTime,
                        imp: q.scoring.wImportance ?? defaults.wImportance,
                        halfLife: q.scoring.halfLife ?? defaults.halfLife,
                        basis: q.scoring.decay ?? defaults.decay,
                        now: q.now ?? Date().timeIntervalSince1970)
        for (name, v) in [("w_sim", w.sim), ("w_time", w.time), ("w_importance", w.imp)] where !(v.isFinite && v >= 0) {
            throw EngramError.invalidArgument("\(name) must be a finite number ≥ 0")
        }
        guard w.halfLife.isFinite, w.halfLife > 0 else { throw EngramError.invalidArgument("half-life must be positive") }
        guard w.now.isFinite else { throw EngramError.invalidArgument("now must be a finite time") }
        let vector = try normalise(q.vector, id: "query")

        return try locked {
            _ = try requireOpen()
            var search = Search(store: self, query: vector, k: q.k, weights: w,
                                filter: CompiledFilter(q.filter, catalog: catalog, now: w.now))
            let (top, plan) = try search.run()
            if q.touch { try touchLocked(top.map(\.label), at: w.now) }
            var results: [ScoredMemory] = []
            results.reserveCapacity(top.count)
            for hit in top {
                guard let id = catalog.ids[Int(hit.label)] else {
                    throw EngramError.corrupt("memory with label \(hit.label) has no id in the catalog")
                }
                var memory: Memory?
                if q.fetchRecords {
                    guard let record = try readRecord(id, withVector: false) else {
                        throw EngramError.corrupt("memory '\(id)' is in the catalog but not in RocksDB; run `engram check`")
                    }
                    memory = record
                }
                results.append(ScoredMemory(id: id, time: catalog.times[Int(hit.label)], score: hit.score,
                                            similarity: hit.similarity, recency: hit.recency,
                                            importance: hit.importance, memory: memory))
            }
            return QueryResult(results: results, plan: plan, scored: search.scored)
        }
    }
}

struct Weights {
    var sim: Double, time: Double, imp: Double, halfLife: Double
    var basis: DecayBasis
    var now: Double
}

struct Hit {
    var label: Int64
    var score: Double
    var similarity: Double
    var recency: Double
    var importance: Double
}

/// One query's execution against the catalog and the ANN index (under the store's lock).
struct Search {
    let store: MemoryStore
    let query: [Float]
    let k: Int
    let w: Weights
    let filter: CompiledFilter
    /// Memories scored exactly.
    private(set) var scored = 0

    /// The store's catalog (a copy-on-write reference: nothing is copied).
    private let catalog: Catalog

    init(store: MemoryStore, query: [Float], k: Int, weights: Weights, filter: CompiledFilter) {
        self.store = store
        self.catalog = store.catalog
        self.query = query
        self.k = k
        self.w = weights
        self.filter = filter
    }

    /// Returns the top-k hits, best first, and the plan used.
    mutating func run() throws -> ([Hit], String) {
        let c = catalog
        if filter.matchesNothing || c.liveCount == 0 { return ([], "empty") }
        var matching: [Int64]? = nil
        var allowed: [UInt8]? = nil
        let needsBound = w.time > 0 || w.imp > 0
        // The decay bound trusts the ANN frontier, so decayed queries probe four times as wide.
        var probes = store.index.defaultProbes * (needsBound ? 4 : 1)
        if filter.needsCheck {
            let labels = filter.matchingLabels(in: c)
            if labels.isEmpty { return ([], "empty") }
            // A selective filter: scoring every match exactly is cheaper than the index.
            if labels.count <= exactScanLimit || store.index.isExact && labels.count < c.liveCount / 2 {
                return (exact(labels), "exact-scan")
            }
            matching = labels
            allowed = Self.bitmap(labels, capacity: c.labelCount)
            // The nearest matches of a filter with selectivity s are spread over more lists.
            let selectivity = Double(labels.count) / Double(max(1, c.liveCount))
            probes = Int((Double(probes) / selectivity.squareRoot()).rounded(.up))
        } else if store.index.tombstones > 0 {
            allowed = c.liveBits
        }
        probes = min(probes, max(1, store.index.nlist))
        let universe = matching?.count ?? c.liveCount
        var fetch = needsBound ? max(4 * k, 64) : k
        while true {
            fetch = min(fetch, universe)
            let found = try store.index.search(query, k: fetch, probes: probes, allowed: allowed)
                .filter { c.isLive($0.label) && (matching == nil || filter.matches(Int($0.label), in: c)) }
            // The index came back short although more memories match: widen, then scan.
            if found.count < fetch {
                if store.index.kind == "ivf" && probes < store.index.nlist {
                    probes = min(store.index.nlist, probes * 4)
                    continue
                }
                if found.count < min(k, universe) {
                    return (exact(matching ?? c.liveLabels()), "exact-scan (index short)")
                }
            }
            var hits = found.map { score($0.label, similarity: Double($0.score)) }
            scored += hits.count
            guard needsBound && fetch < universe else {
                return (Self.top(hits, k), needsBound ? "ann (all)" : "ann")
            }
            // Every memory not returned has similarity ≤ the frontier (the lowest returned).
            let frontier = found.map { Double($0.score) }.min() ?? -1
            let seen = Set(found.map(\.label))
            if w.basis == .time {
                let (top, walked) = walkRecent(from: hits, frontier: frontier, seen: seen)
                scored += walked
                return (top, "ann+recent(\(walked))")
            }
            hits.sort(by: Self.better)
            let kth = hits.count >= k ? hits[k - 1].score : -Double.infinity
            let threshold = kth - w.sim * frontier
            guard let extras = candidatesAbove(threshold, excluding: seen, within: matching,
                                               budget: max(4 * fetch, 2048)) else {
                // Too many memories could still win on recency: fetch deeper and retry.
                if fetch * 4 >= universe { return (exact(matching ?? c.liveLabels()), "exact-scan (decay)") }
                fetch *= 4
                continue
            }
            hits.append(contentsOf: scoreExactly(extras))
            scored += extras.count
            return (Self.top(hits, k), "ann+bound(\(extras.count))")
        }
    }

    /// The exact decayed top-k given the ANN candidates `hits` (whose similarities bound every
    /// other memory's by `frontier`): visits memories newest first, scoring each exactly, and
    /// stops at the first whose best possible score (`frontier` similarity, its own recency,
    /// the highest importance) cannot beat the k-th; every older memory is bounded by the
    /// same. Returns the top k and how many memories the walk scored.
    private func walkRecent(from hits: [Hit], frontier: Double, seen: Set<Int64>) -> ([Hit], Int) {
        let c = catalog
        var top = TopHits(k: k)
        for hit in hits { top.insert(hit) }
        let maxImp = w.imp * Double(c.maxImportance)
        let simBound = w.sim * frontier
        var walked = 0
        var similarity: Float = 0
        query.withUnsafeBufferPointer { q in
            c.vectors.withUnsafeBufferPointer { base in
                for label in c.timeOrder.reversed() {
                    let l = Int(label)
                    guard c.isLive(label) else { continue }
                    let rec = recency(c.times[l])
                    if simBound + w.time * rec + maxImp < top.kth { break }
                    if seen.contains(label) || (filter.needsCheck && !filter.matches(l, in: c)) { continue }
                    var row = label
                    cfaiss_dot_rows(q.baseAddress, base.baseAddress, c.dimension, &row, 1, &similarity)
                    top.insert(score(label, similarity: Double(similarity)))
                    walked += 1
                }
            }
        }
        return (top.hits, walked)
    }

    /// Below this many matching memories a filtered query scans them exactly: four times
    /// what an unfiltered IVF query scans costs about as much as the widened ANN search.
    private var exactScanLimit: Int {
        let index = store.index
        if index.kind == "ivf" { return max(4096, 4 * catalog.liveCount * index.defaultProbes / max(1, index.nlist)) }
        return 4096
    }

    /// Memories (not in `seen`, within `matching`) whose recency and importance terms alone
    /// exceed `threshold`; nil when there are more than `budget` of them.
    private func candidatesAbove(_ threshold: Double, excluding seen: Set<Int64>, within matching: [Int64]?,
                                 budget: Int) -> [Int64]? {
        let c = catalog
        let maxImp = Double(c.maxImportance)
        // Necessary: w.time·recency > threshold − w.imp·maxImp, i.e. the basis time is after tMin.
        let need = threshold - w.imp * maxImp
        var tMin = -Double.infinity
        if need > 0 {
            guard w.time > 0, need < w.time else { return [] }
            tMin = w.now - w.halfLife * log2(w.time / need)
        }
        let basis = w.basis == .time ? c.times : c.accessed
        var out: [Int64] = []
        func consider(_ l: Int) -> Bool {
            if basis[l] < tMin || seen.contains(Int64(l)) { return true }
            if w.time * recency(basis[l]) + w.imp * Double(c.importance[l]) < threshold { return true }
            out.append(Int64(l))
            return out.count <= budget
        }
        if let matching {
            for label in matching where !consider(Int(label)) { return nil }
        } else {
            let bits = c.liveBits
            for l in 0..<c.labelCount where bits[l >> 3] & (1 << (l & 7)) != 0 {
                if filter.needsCheck && !filter.matches(l, in: c) { continue }
                if !consider(l) { return nil }
            }
        }
        return out
    }

    /// Scores every label exactly and keeps the top k.
    private mutating func exact(_ labels: [Int64]) -> [Hit] {
        scored += labels.count
        return Self.top(scoreExactly(labels), k)
    }

    /// Scores `labels` with similarities from the vectorised kernel.
    private func scoreExactly(_ labels: [Int64]) -> [Hit] {
        guard !labels.isEmpty else { return [] }
        let c = catalog
        var sims = [Float](repeating: 0, count: labels.count)
        query.withUnsafeBufferPointer { q in
            c.vectors.withUnsafeBufferPointer { base in
                cfaiss_dot_rows(q.baseAddress, base.baseAddress, c.dimension, labels, labels.count, &sims)
            }
        }
        return zip(labels, sims).map { score($0, similarity: Double($1)) }
    }

    private func recency(_ basisTime: Double) -> Double {
        pow(0.5, max(0, w.now - basisTime) / w.halfLife)
    }

    private func score(_ label: Int64, similarity sim: Double) -> Hit {
        let c = catalog
        let l = Int(label)
        let rec = recency(w.basis == .time ? c.times[l] : c.accessed[l])
        let imp = Double(c.importance[l])
        return Hit(label: label, score: w.sim * sim + w.time * rec + w.imp * imp,
                   similarity: sim, recency: rec, importance: imp)
    }

    /// Best first; ties broken by label (older first) so results are deterministic.
    static func better(_ a: Hit, _ b: Hit) -> Bool {
        a.score != b.score ? a.score > b.score : a.label < b.label
    }

    static func top(_ hits: [Hit], _ k: Int) -> [Hit] {
        if hits.count <= k { return hits.sorted(by: better) }
        var top = TopHits(k: k)
        for hit in hits { top.insert(hit) }
        return top.hits
    }

    /// The best `k` hits seen so far, best first.
    struct TopHits {
        let k: Int
        private(set) var hits: [Hit] = []
        init(k: Int) {
            self.k = k
            hits.reserveCapacity(k + 1)
        }
        /// The k-th best score, or -∞ while fewer than k hits are held.
        var kth: Double { hits.count >= k ? hits[k - 1].score : -.infinity }
        mutating func insert(_ hit: Hit) {
            if hits.count == k, let last = hits.last, !Search.better(hit, last) { return }
            let at = hits.firstIndex { Search.better(hit, $0) } ?? hits.count
            hits.insert(hit, at: at)
            if hits.count > k { hits.removeLast() }
        }
    }

    static func bitmap(_ labels: [Int64], capacity: Int) -> [UInt8] {
        var bits = [UInt8](repeating: 0, count: (capacity + 7) / 8)
        for label in labels { bits[Int(label) >> 3] |= 1 << (UInt8(label & 7)) }
        return bits
    }
}
