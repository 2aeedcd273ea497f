import EngramBase
import Foundation

extension MemoryStore {
    /// Text and hybrid retrieval.
    ///
    /// The text list is the `candidates` best memories by BM25 (exact over the postings of the
    /// query's terms, under the filter); in hybrid mode the vector list is the `candidates`
    /// best by cosine (exact given the ANN index, as a vector query with only `w_sim`). The
    /// lists are fused (`Fusion`) into a relevance, and each memory scores
    /// `w_sim·relevance + w_time·recency + w_importance·importance`. A memory in neither list
    /// has relevance 0 (in text mode it must still hold a query term), so it can only enter
    /// the top-k through recency and importance: memories are visited newest first until
    /// their best possible score falls below the k-th (every memory, with access-based
    /// decay). The decayed top-k is therefore exact given the lists. A metadata boost
    /// (`Boosts`) re-ranks the listed memories: it adds to their relevance, never to that of a
    /// memory neither list found (a speaker named in a question is no evidence by itself).
    func fusedRetrieval(_ q: MemoryQuery, mode: RetrievalMode, view: StoreView, filter: CompiledFilter,
                        weights w: Weights) throws -> Retrieval {
        guard let text = q.text, !text.isEmpty else {
            throw EngramError.invalidArgument("\(mode.rawValue) retrieval needs the query text")
        }
        let defaults = settings.text
        let method = q.fusion.method ?? defaults.fusion
        let wText = mode == .text ? 1 : q.fusion.wText ?? defaults.wText
        let candidates = q.fusion.candidates ?? defaults.candidates
        guard wText.isFinite, (0...1).contains(wText) else { throw EngramError.invalidArgument("w_text must be between 0 and 1") }
        guard (1...10_000).contains(candidates) else { throw EngramError.invalidArgument("candidates must be between 1 and 10000") }
        let n = max(candidates, q.k)

        var seen = Set<String>()
        let session = try analysis.lend()
        defer { analysis.giveBack(session) }
        let terms = session.terms(text).filter { seen.insert($0).inserted }
        var boosts = Boosts(fields: defaults.boostFields, boost: defaults.boost, queryTerms: seen, session: session)
        let textSearch = TextSearch(view: view, k1: defaults.k1, b: defaults.b, filter: filter)
        let matched = filter.matchesNothing ? .empty : try textSearch.score(terms)
        let textList = RankedList(best: n, of: matched.matched, score: matched.score)
        var plan = "\(mode.rawValue)(\(method.rawValue)): text \(terms.count) term\(terms.count == 1 ? "" : "s"), \(matched.postings) postings, \(matched.matched.count) matches"

        var vectorList: RankedList?
        var scored = 0
        if mode == .hybrid {
            let relevanceOnly = Weights(sim: 1, time: 0, imp: 0, halfLife: w.halfLife, basis: .time, now: w.now)
            let vector = try normalise(q.vector, id: "query")
            var search = Search(view: view, settings: settings, query: vector, k: n, weights: relevanceOnly, filter: filter)
            let (hits, vectorPlan) = try search.run()
            scored = search.scored
            plan += "; vector \(vectorPlan)"
            if let threads = view.threads {
                let windows = WindowVectors(view: view, threads: threads, size: defaults.contextWindow, query: vector)
                vectorList = try windows.rank(hits, filter: filter, best: n)
                plan += "+windows"
            } else {
                vectorList = RankedList(labels: hits.map(\.label), scores: hits.map(\.similarity))
            }
        }
        let relevance = Fusion.fuse(vector: vectorList, text: textList, method: method, wText: wText, rrfK: defaults.rrfK)

        let scorer = Scorer(catalog: view.catalog, weights: w)
        var top = Search.TopHits(k: q.k)
        var boosted: [Int64: Double] = [:]
        for (label, r) in relevance {
            let boost = boosts.amount(label, in: view.catalog)
            if boost > 0 { boosted[label] = boost }
            top.insert(scorer.hit(label, relevance: r + boost))
        }
        if w.time > 0 || w.imp > 0 {
            let c = view.catalog
            // Decay from the last access does not follow the time order: every memory is visited.
            let ordered = !(w.basis == .access && w.time > 0)
            var walked = 0
            for label in c.timeOrder.reversed() {
                guard c.isLive(label) else { continue }
                if scorer.bound(label) < top.kth {
                    if ordered { break } else { continue }
                }
                guard relevance[label] == nil, mode != .text || matched.score(label) > 0,
                      !filter.needsCheck || filter.matches(Int(label), in: c) else { continue }
                top.insert(scorer.hit(label, relevance: 0))
                walked += 1
            }
            plan += ordered ? "; recent(\(walked))" : "; all by access(\(walked))"
        }

        var retrieval = Retrieval(hits: top.hits, plan: plan, scored: scored, terms: terms)
        retrieval.boosts = boosted
        retrieval.relevance = { label in
            guard let r = relevance[label] else { return 0 }
            return r + (boosted[label] ?? 0)
        }
        for (rank, (label, score)) in zip(textList.labels, textList.scores).enumerated() {
            retrieval.textList[label] = ListEntry(rank: rank + 1, score: score)
        }
        for (rank, (label, score)) in zip(vectorList?.labels ?? [], vectorList?.scores ?? []).enumerated() {
            retrieval.vectorList[label] = ListEntry(rank: rank + 1, score: score)
        }
        let termStats = matched.terms
        retrieval.explain = { try textSearch.contributions(of: $0, termStats) }
        return retrieval
    }

    /// Metadata boosts (`[text] boost_fields`): a memory whose value of such a field is named
    /// by the query (every term of the value is a query term: `Melanie` in "what did Melanie
    /// paint?") gains `boost` of relevance, once per field. Values are analysed like text,
    /// once per query.
    struct Boosts {
        let fields: [String]
        let boost: Double
        let queryTerms: Set<String>
        let session: AnalysisSession
        private var named: [JSONValue: Bool] = [:]

        init(fields: [String], boost: Double, queryTerms: Set<String>, session: AnalysisSession) {
            self.fields = fields
            self.boost = boost
            self.queryTerms = queryTerms
            self.session = session
        }

        mutating func amount(_ label: Int64, in catalog: Catalog) -> Double {
            guard !fields.isEmpty, boost > 0 else { return 0 }
            let meta = catalog.meta[Int(label)]
            var total = 0.0
            for field in fields {
                guard let value = meta[field] else { continue }
                if let known = named[value] {
                    if known { total += boost }
                    continue
                }
                let text: String
                switch value {
                case let .string(s): text = s
                default: text = value.description
                }
                let terms = session.terms(text)
                let isNamed = !terms.isEmpty && terms.allSatisfy(queryTerms.contains)
                named[value] = isNamed
                if isNamed { total += boost }
            }
            return total
        }
    }
}
