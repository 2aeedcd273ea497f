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
        try run(try plan(q, view: currentView()))
    }

    /// `query` of each of `batch`, answered in their order, all on the view current when it
    /// is called: each answer is the one `query` gives alone on that view. The searches that
    /// probe IVF lists without a filter to check find their lists together (see
    /// `IVFLists.probe(batch:)`), which costs less than one by one: a server answering the
    /// queries that arrived together calls this.
    public func query(batch: [MemoryQuery]) -> [Result<QueryResult, any Error>] {
        let view = currentView()
        var planned = batch.map { q in Result { try plan(q, view: view) } }
        var wanted: [(index: Int, query: [Float], count: Int)] = []
        var lists: IVFLists?
        for (i, p) in planned.enumerated() {
            guard case let .success(p) = p, let search = p.search, let probe = search.plannedProbe else { continue }
            lists = probe.lists
            wanted.append((i, search.query, probe.count))
        }
        // One search alone probes as `query` does; a failed batch probe leaves each to probe.
        if wanted.count > 1, let lists, let found = try? lists.probe(batch: wanted.map { ($0.query, $0.count) }) {
            for (w, nearest) in zip(wanted, found) {
                if case var .success(p) = planned[w.index] {
                    p.search?.probed = (w.count, nearest)
                    planned[w.index] = .success(p)
                }
            }
        }
        return planned.map { p in p.flatMap { p in Result { try run(p) } } }
    }

    /// A query checked against the store's settings and ready to run on `view`.
    struct PlannedQuery {
        let q: MemoryQuery
        let w: Weights
        let view: StoreView
        let filter: CompiledFilter
        let mode: RetrievalMode
        /// Why the mode is not the one asked for, if it is not.
        let note: String
        /// Vector mode's search.
        var search: Search?
    }

    /// Checks `q` and plans it on `view`.
    func plan(_ q: MemoryQuery, view: StoreView) throws -> PlannedQuery {
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

        // Readers do not take the writer lock: they search the last published view.
        _ = try view.requireOpen()
        let filter = CompiledFilter(q.filter, catalog: view.catalog, now: w.now)
        var mode = q.mode ?? (q.text == nil ? .vector : settings.text.mode)
        var note = ""
        if mode != .vector && !view.textIndexCurrent {
            // Only a read-only open of a database not yet migrated, or whose analyser changed.
            guard q.mode == nil else {
                throw EngramError(.failedPrecondition, "the full-text index of \(directory.path) is missing or was built with another analyser; open the database for writing once (e.g. `engram compact`) to build it")
            }
            mode = .vector
            note = " (full-text index not built yet)"
        }
        let search = mode == .vector
            ? Search(view: view, settings: settings, query: try normalise(q.vector, id: "query"), k: q.k, weights: w, filter: filter)
            : nil
        return PlannedQuery(q: q, w: w, view: view, filter: filter, mode: mode, note: note, search: search)
    }

    /// Runs a planned query.
    func run(_ planned: PlannedQuery) throws -> QueryResult {
        let (q, w, view, filter, mode) = (planned.q, planned.w, planned.view, planned.filter, planned.mode)
        let db = try view.requireOpen()
        var retrieval: Retrieval
        if var search = planned.search {
            let (top, plan) = try search.run()
            retrieval = Retrieval(hits: top, plan: plan + planned.note, scored: search.scored)
        } else {
            retrieval = try fusedRetrieval(q, mode: mode, view: view, filter: filter, weights: w)
        }
        if !q.linked.isEmpty {
            try join(q.linked, into: &retrieval, k: q.k, view: view, filter: filter, weights: w, mode: mode, vector: q.vector)
        }
        let top = retrieval.hits
        if q.touch { try locked { try touchLocked(top.map(\.label), at: w.now) } }
        let catalog = view.catalog
        var results: [ScoredMemory] = []
        results.reserveCapacity(top.count)
        for hit in top {
            guard let id = catalog.ids[Int(hit.label)] else {
                throw EngramError.corrupt("memory with label \(hit.label) has no id in the catalog")
            }
            var memory: Memory?
            if q.fetchRecords {
                // A record written after the view was taken belongs to a newer version:
                // report this version's data from the catalog and the record's text.
                guard let raw = try db.get(Family.records, Array(id.utf8)) else {
                    throw EngramError.notFound(id: id)
                }
                memory = try raw.withUnsafeBytes { try RecordCodec.decode($0).memory }
            }
            results.append(ScoredMemory(id: id, time: catalog.times[Int(hit.label)], score: hit.score,
                                        similarity: hit.similarity, recency: hit.recency,
                                        importance: hit.importance, memory: memory,
                                        vector: retrieval.vectorList[hit.label], text: retrieval.textList[hit.label],
                                        terms: q.explain ? try retrieval.explain?(hit.label) : nil,
                                        boost: retrieval.boosts[hit.label], linked: retrieval.linked[hit.label]))
        }
        return QueryResult(results: results, plan: retrieval.plan, scored: retrieval.scored, mode: mode,
                           terms: retrieval.terms)
    }
}

extension MemoryStore {
    /// Adds the `linked` memories to the retrieval's top-k, each scored with its own relevance
    /// (its place in the lists, or in vector mode its exact cosine) plus its term. Exact: a
    /// memory that is not linked keeps the score it had, and the retrieval's top-k held the
    /// best of those.
    func join(_ linked: [String: Double], into retrieval: inout Retrieval, k: Int, view: StoreView, filter: CompiledFilter,
              weights w: Weights, mode: RetrievalMode, vector: [Float]) throws {
        let c = view.catalog
        let db = try view.requireOpen()
        var terms: [Int64: Double] = [:]
        for (id, term) in linked where term.isFinite && term > 0 {
            guard let raw = try db.get(Family.records, Array(id.utf8)) else { continue }
            let label = try raw.withUnsafeBytes { try RecordCodec.label($0) }
            guard c.isLive(label), c.ids[Int(label)] == id, !filter.needsCheck || filter.matches(Int(label), in: c) else { continue }
            terms[label] = term
        }
        guard !terms.isEmpty else { return }
        let query = mode == .vector ? try normalise(vector, id: "query") : []
        var row = [Float](repeating: 0, count: c.dimension)
        func relevance(_ label: Int64) throws -> Double {
            if let hit = retrieval.hits.first(where: { $0.label == label }) { return hit.similarity }
            guard mode == .vector else { return try retrieval.relevance?(label) ?? 0 }
            try row.withUnsafeMutableBufferPointer { try view.vectors.read(label, into: $0.baseAddress!) }
            var zero: Int64 = 0
            var similarity: Float = 0
            query.withUnsafeBufferPointer { q in
                row.withUnsafeBufferPointer { cfaiss_dot_rows(q.baseAddress, $0.baseAddress, c.dimension, &zero, 1, &similarity) }
            }
            return Double(similarity)
        }
        let scorer = Scorer(catalog: c, weights: w)
        var top = Search.TopHits(k: k)
        for hit in retrieval.hits where terms[hit.label] == nil { top.insert(hit) }
        for (label, term) in terms.sorted(by: { $0.key < $1.key }) {
            top.insert(scorer.hit(label, relevance: try relevance(label) + term))
        }
        retrieval.hits = top.hits
        retrieval.linked = terms
        retrieval.plan += "; linked(\(terms.count))"
    }
}

/// What one retrieval found, before the records are read.
struct Retrieval {
    var hits: [Hit]
    var plan: String
    var scored: Int
    /// Text and hybrid retrieval: each candidate's place in the vector and the text list.
    var vectorList: [Int64: ListEntry] = [:]
    var textList: [Int64: ListEntry] = [:]
    /// The analysed query terms.
    var terms: [String]?
    /// The matched terms of a result and their BM25 contributions.
    var explain: ((Int64) throws -> [TermScore])?
    /// What metadata boosts added to a result's relevance.
    var boosts: [Int64: Double] = [:]
    /// Text and hybrid retrieval: the relevance of any memory (0 outside both lists).
    var relevance: ((Int64) throws -> Double)?
    /// What the query's linked memories added to their relevance.
    var linked: [Int64: Double] = [:]
}

struct Weights {
    var sim: Double, time: Double, imp: Double, halfLife: Double
    var basis: DecayBasis
    var now: Double
}

/// Scores memories: `w_sim·relevance + w_time·recency + w_importance·importance`, where
/// relevance is the cosine or, in hybrid and text retrieval, the fused relevance.
struct Scorer {
    let catalog: Catalog
    let w: Weights

    init(catalog: Catalog, weights: Weights) {
        self.catalog = catalog
        w = weights
    }

    /// `0.5^(age/halfLife)`, the age measured from `basisTime` and clamped at 0.
    func recency(_ basisTime: Double) -> Double {
        pow(0.5, max(0, w.now - basisTime) / w.halfLife)
    }

    /// The recency of `label`, from the time the decay basis names.
    func recency(of label: Int64) -> Double {
        let l = Int(label)
        return recency(w.basis == .time ? catalog.times[l] : catalog.accessed[l])
    }

    /// `w_time·recency + w_importance·importance` of `label`.
    func rest(_ label: Int64) -> Double {
        var r = 0.0
        if w.time > 0 { r += w.time * recency(of: label) }
        if w.imp > 0 { r += w.imp * Double(catalog.importance[Int(label)]) }
        return r
    }

    /// What a memory absent from every candidate list (relevance 0) can score at most:
    /// its own recency term plus the highest importance.
    func bound(_ label: Int64) -> Double {
        w.time * recency(of: label) + w.imp * Double(catalog.maxImportance)
    }

    func hit(_ label: Int64, relevance: Double) -> Hit {
        let rec = recency(of: label)
        let imp = Double(catalog.importance[Int(label)])
        return Hit(label: label, score: w.sim * relevance + w.time * rec + w.imp * imp,
                   similarity: relevance, recency: rec, importance: imp)
    }
}

struct Hit {
    var label: Int64
    var score: Double
    var similarity: Double
    var recency: Double
    var importance: Double
}

/// A memory considered for the top-k: its approximate similarity and the bound of that
/// approximation's error (0 when the similarity is exact).
struct Candidate {
    var label: Int64
    var similarity: Double
    var error: Double
}

/// One query's execution against the catalog and the index (under the store's lock).
///
/// Every path scores candidates with the quantized codes first: each approximate similarity
/// comes with an error bound, so a candidate's score is bracketed. `settle` then re-reads the
/// full vectors of candidates in order of their upper bound until the next upper bound cannot
/// reach the k-th exact score: the top-k among the candidates is exact, while most candidates
/// cost a quarter of a vector's bytes and no disk read.
struct Search {
    let view: StoreView
    let settings: StoreSettings
    let query: [Float]
    let k: Int
    let w: Weights
    let filter: CompiledFilter
    /// Memories whose full vector was read to score them exactly.
    private(set) var scored = 0

    /// The store's catalog (a copy-on-write reference: nothing is copied).
    private let catalog: Catalog
    private let prepared: (qs: [Float], bias: Float)
    private let scorer: Scorer

    init(view: StoreView, settings: StoreSettings, query: [Float], k: Int, weights: Weights, filter: CompiledFilter) {
        self.view = view
        self.settings = settings
        self.catalog = view.catalog
        self.query = query
        self.k = k
        self.w = weights
        self.filter = filter
        prepared = view.catalog.codes.quantizer.prepare(query)
        scorer = Scorer(catalog: view.catalog, weights: weights)
    }

    /// Returns the top-k hits, best first, and the plan used.
    mutating func run() throws -> ([Hit], String) {
        let c = catalog
        if filter.matchesNothing || c.liveCount == 0 { return ([], "empty") }
        var matching: [Int64]? = nil
        if filter.needsCheck {
            let labels = filter.matchingLabels(in: c)
            if labels.isEmpty { return ([], "empty") }
            // A selective filter: scanning the codes of every match beats the index.
            if labels.count <= exactScanLimit || view.index.isExact { return (try exactTop(labels), "exact-scan") }
            matching = labels
        }
        // Decay from the last access: recency does not follow the time order the walk uses.
        if w.time > 0 && w.basis == .access { return (try exactTop(matching ?? c.liveLabels()), "exact-scan (access decay)") }
        switch view.index.structure {
        case .flat:
            return (try exactTop(matching ?? c.liveLabels()), "exact-scan")
        case let .ivf(lists):
            return try ivf(lists, matching: matching)
        case let .hnsw(graph):
            return try hnsw(graph, matching: matching)
        }
    }

    private var needsBound: Bool { w.time > 0 || w.imp > 0 }

    /// The IVF probe `run` makes when it makes one with no filter to check: the lists and how
    /// many of them (nil when it takes another way). Callers with several searches find these
    /// probes together and hand each its result in `probed`.
    var plannedProbe: (lists: IVFLists, count: Int)? {
        guard !filter.matchesNothing, !filter.needsCheck, catalog.liveCount > 0, !(w.time > 0 && w.basis == .access),
              case let .ivf(lists) = view.index.structure else { return nil }
        return (lists, probeCount(lists, matching: nil))
    }

    /// The nearest lists of `plannedProbe`, found by the caller: used when the search probes
    /// that many lists with no filter to check (otherwise it probes for itself).
    var probed: (count: Int, lists: [Int])?

    /// How many lists the IVF search probes.
    private func probeCount(_ lists: IVFLists, matching: [Int64]?) -> Int {
        var probes = view.index.defaultProbes * (needsBound ? 2 : 1)
        if let matching {
            // The nearest matches of a filter with selectivity s are spread over more lists.
            let selectivity = Double(matching.count) / Double(max(1, catalog.liveCount))
            probes = Int((Double(probes) / selectivity.squareRoot()).rounded(.up))
        }
        return min(probes, lists.nlist)
    }

    /// Candidates from the IVF lists nearest to the query.
    private mutating func ivf(_ lists: IVFLists, matching: [Int64]?) throws -> ([Hit], String) {
        let c = catalog
        let probes = probeCount(lists, matching: matching)
        let nearest: [Int]
        if matching == nil, let probed, probed.count == probes {
            nearest = probed.lists
        } else {
            nearest = try lists.probe(query, count: probes)
        }
        var labels: [Int64] = []
        for list in nearest {
            for label in lists.lists[list] where c.isLive(label) && (matching == nil || filter.matches(Int(label), in: c)) {
                labels.append(label)
            }
        }
        let universe = matching?.count ?? c.liveCount
        // The lists came back short although more memories match: scan them all.
        if labels.count < min(k, universe) { return (try exactTop(matching ?? c.liveLabels()), "exact-scan (index short)") }
        let approx = c.codes.approximate(prepared, labels)
        var candidates = zip(labels, approx).map { Candidate(label: $0, similarity: Double($1), error: Double(c.codes.error($0))) }
        if !needsBound || labels.count >= universe {
            return (try settle(candidates), "ivf(\(probes))")
        }
        // Time-decayed: the best F by similarity bound every other memory's similarity.
        let f = min(candidates.count, max(4 * k, 64))
        candidates.sort { $0.similarity + $0.error > $1.similarity + $1.error }
        let frontier = candidates[f - 1].similarity + candidates[f - 1].error
        let seen = Set(candidates.prefix(f).map(\.label))
        let walked = walkRecent(frontier: frontier, seen: seen, from: Array(candidates.prefix(f)))
        return (try settle(walked.candidates), "ivf(\(probes))+recent(\(walked.count))")
    }

    /// Candidates from the HNSW graph (exact similarities).
    private mutating func hnsw(_ graph: HNSWGraph, matching: [Int64]?) throws -> ([Hit], String) {
        let c = catalog
        let allowed: [UInt8]? = matching.map { Self.bitmap($0, capacity: c.labelCount) }
            ?? (view.index.tombstones > 0 ? c.liveBits : nil)
        let universe = matching?.count ?? c.liveCount
        let fetch = min(universe, needsBound ? max(4 * k, 64) : k)
        let found = try query.withUnsafeBufferPointer {
            try graph.search($0, k: fetch, efSearch: max(settings.efSearch, fetch), allowed: allowed)
        }.filter { c.isLive($0.label) && (matching == nil || filter.matches(Int($0.label), in: c)) }
        if found.count < min(fetch, universe) { return (try exactTop(matching ?? c.liveLabels()), "exact-scan (index short)") }
        let candidates = found.map { Candidate(label: $0.label, similarity: Double($0.score), error: 0) }
        if !needsBound || fetch >= universe { return (try settle(candidates), "hnsw") }
        let frontier = candidates.map(\.similarity).min() ?? -1
        let walked = walkRecent(frontier: frontier, seen: Set(candidates.map(\.label)), from: candidates)
        return (try settle(walked.candidates), "hnsw+recent(\(walked.count))")
    }

    /// The exact top-k of `labels`: their codes are scanned, then settled.
    private mutating func exactTop(_ labels: [Int64]) throws -> [Hit] {
        let c = catalog
        let approx = c.codes.approximate(prepared, labels)
        return try settle(zip(labels, approx).map { Candidate(label: $0, similarity: Double($1), error: Double(c.codes.error($0))) })
    }

    /// Adds to `candidates` every memory that could still enter the decayed top-k although
    /// the ANN did not return it: memories are visited newest first, and the walk stops at the
    /// first whose best possible score (`frontier` similarity, its own recency, the highest
    /// importance) falls below the k-th lower bound so far; every older memory is bounded by
    /// the same. Exact given the ANN candidates (their similarities bound everyone else's).
    private func walkRecent(frontier: Double, seen: Set<Int64>, from candidates: [Candidate]) -> (candidates: [Candidate], count: Int) {
        let c = catalog
        var out = candidates
        var lower = TopHits(k: k)
        for candidate in candidates { lower.insert(scorer.hit(candidate.label, relevance: candidate.similarity - candidate.error)) }
        let simBound = w.sim * frontier
        var walked = 0
        for label in c.timeOrder.reversed() {
            let l = Int(label)
            guard c.isLive(label) else { continue }
            if simBound + scorer.bound(label) < lower.kth { break }
            if seen.contains(label) || (filter.needsCheck && !filter.matches(l, in: c)) { continue }
            let candidate = Candidate(label: label, similarity: Double(c.codes.approximate(prepared, label)),
                                      error: Double(c.codes.error(label)))
            lower.insert(scorer.hit(label, relevance: candidate.similarity - candidate.error))
            out.append(candidate)
            walked += 1
        }
        return (out, walked)
    }

    /// The exact top-k of `candidates`: those whose upper bound reaches the k-th best lower
    /// bound are visited in order of their upper bound, each scored exactly from its full
    /// vector, until the next upper bound is below the k-th exact score.
    private mutating func settle(_ candidates: [Candidate]) throws -> [Hit] {
        let slack = Self.roundingSlack
        // What recency and importance add to each candidate's score (exact, from the catalog).
        let rest = candidates.map { scorer.rest($0.label) }
        var lowest = LowestOfBest(k: k)
        for (c, r) in zip(candidates, rest) { lowest.insert(w.sim * (c.similarity - c.error - slack) + r) }
        let floor = lowest.kth
        var contenders: [(Candidate, Double)] = []
        for (c, r) in zip(candidates, rest) {
            let upper = w.sim * (c.similarity + c.error + slack) + r
            if upper >= floor { contenders.append((c, upper)) }
        }
        contenders.sort { $0.1 > $1.1 }
        var top = TopHits(k: k)
        var row = [Float](repeating: 0, count: catalog.dimension)
        var similarity: Float = 0
        for (candidate, upper) in contenders {
            if upper < top.kth { break }
            if candidate.error == 0 {
                top.insert(scorer.hit(candidate.label, relevance: candidate.similarity))
                continue
            }
            try row.withUnsafeMutableBufferPointer { try view.vectors.read(candidate.label, into: $0.baseAddress!) }
            var zero: Int64 = 0
            query.withUnsafeBufferPointer { q in
                row.withUnsafeBufferPointer { cfaiss_dot_rows(q.baseAddress, $0.baseAddress, catalog.dimension, &zero, 1, &similarity) }
            }
            top.insert(scorer.hit(candidate.label, relevance: Double(similarity)))
            scored += 1
        }
        return top.hits
    }

    /// The k-th largest of the values inserted (−∞ while fewer than k).
    struct LowestOfBest {
        let k: Int
        private var best: [Double] = []
        init(k: Int) { self.k = k }
        var kth: Double { best.count >= k ? best[k - 1] : -.infinity }
        mutating func insert(_ v: Double) {
            if best.count == k, v <= best[k - 1] { return }
            let at = best.firstIndex { v > $0 } ?? best.count
            best.insert(v, at: at)
            if best.count > k { best.removeLast() }
        }
    }

    /// Float rounding of the approximate scores, beyond the codes' error bounds.
    static let roundingSlack = 1e-5

    /// Below this many matching memories a filtered query scans their codes: four times
    /// what an unfiltered IVF query scans costs about as much as the widened ANN search.
    private var exactScanLimit: Int {
        let index = view.index
        guard index.kind == .ivf else { return 8192 }
        return max(8192, 4 * catalog.liveCount * index.defaultProbes / max(1, index.nlist))
    }

    /// Best first; ties broken by label (older first) so results are deterministic.
    static func better(_ a: Hit, _ b: Hit) -> Bool {
        a.score != b.score ? a.score > b.score : a.label < b.label
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
