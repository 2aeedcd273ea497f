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
        let session = try analyzer.session()
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
            var search = Search(view: view, settings: settings, query: try normalise(q.vector, id: "query"), k: n,
                                weights: relevanceOnly, filter: filter)
            let (hits, vectorPlan) = try search.run()
            vectorList = RankedList(labels: hits.map(\.label), scores: hits.map(\.similarity))
            scored = search.scored
            plan += "; vector \(vectorPlan)"
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

    // MARK: Merging segments into the postings blocks

    /// Queues a merge of the pending text segments, unless one is queued (caller holds the
    /// writer lock).
    func scheduleTextMergeLocked() {
        guard !readOnly, !closing, !textMergeScheduled, writeFailure == nil, !pendingText.isEmpty else { return }
        textMergeScheduled = true
        textMerge.async { [self] in mergeText() }
    }

    /// Applies every pending segment to the postings blocks and deletes them, in one batch of
    /// its own; readers switch from segments to blocks with the view published under the
    /// same lock as that commit. Runs on `textMerge`: writers go on meanwhile (they only add
    /// segments; only merges and rebuilds, both on this queue, write blocks).
    func mergeText() {
        let (segments, db) = locked { () -> ([TextSegment], RocksDB?) in
            textMergeScheduled = false
            return (pendingText, closing || writeFailure != nil ? nil : self.db)
        }
        guard let db, !segments.isEmpty else { return }
        do {
            let editor = PostingEditor(db: db)
            for segment in segments {
                for event in segment.events {
                    if event.added { editor.add(event.document, label: event.label) } else { editor.remove(event.document, label: event.label) }
                }
            }
            let batch = db.makeBatch()
            let written = try editor.stage(into: batch, cache: postingCache)
            for segment in segments { batch.delete(TextSegment.family, segment.key) }
            try locked {
                guard self.db != nil, pendingText.prefix(segments.count).map(\.seq) == segments.map(\.seq) else { return }
                try commit(batch, to: db, sync: false)
                pendingText.removeFirst(segments.count)
                postingCache.commit(written)
                publishLocked()
                scheduleTextMergeLocked()
            }
        } catch {
            logger.error("merging \(segments.count) full-text segments failed (\(error)); queries read them as they are, and the next open merges them")
        }
    }

    /// Waits for the text merges when the segments pending are more than
    /// `textPendingLimit` documents (a writer far ahead of the merges), so that neither
    /// memory nor query time grows without bound.
    func waitForTextMergeIfBehind() {
        guard DispatchQueue.getSpecific(key: Self.textMergeKey) == nil,
              locked({ pendingText.reduce(0) { $0 + $1.size } > Self.textPendingLimit }) else { return }
        textMerge.sync {}
    }

    /// Documents in pending text segments above which writers wait for the merges.
    static let textPendingLimit = 50_000

    /// What the text index records of the settings that shape it (analyser and context
    /// windows): a database whose index was built otherwise rebuilds it.
    static func textIndexDescriptor(_ text: TextSettings) -> String {
        TextAnalyzer(text).descriptor + (text.contextWindow > 0 ? " window=\(text.contextWindow) thread=\(text.threadField)" : "")
    }

    /// Rebuilds the full-text index from the records (caller holds the writer lock, and runs
    /// where no text merge can run meanwhile: while opening, or on `textMerge`): for a
    /// database migrated from format 2, and whenever the analyser settings changed. The old
    /// index and its analyser's descriptor are removed first, and the descriptor is written
    /// last, so that a crash part-way leaves a database that rebuilds again at the next open.
    func rebuildTextIndexLocked(db: RocksDB) throws {
        let started = Date()
        let clear = db.makeBatch()
        clear.delete(Family.state, TextIndex.StateKey.analyzer)
        // (Terms are UTF-8: no key starts with 0xFF.)
        clear.deleteRange(TextIndex.postings, from: [], to: [0xFF])
        clear.deleteRange(TextIndex.documents, from: [], to: [UInt8](repeating: 0xFF, count: 9))
        clear.deleteRange(TextSegment.family, from: [], to: [UInt8](repeating: 0xFF, count: 9))
        try commit(clear, to: db, sync: true)
        textIndexCurrent = false
        pendingText = []
        // Every block is rewritten from disk state; none is fresh until labels beyond today's.
        postingCache.clear(labelsIssued: nextLabel)

        threads = settings.text.contextWindow > 0 ? ThreadIndex(field: settings.text.threadField, catalog: catalog) : nil
        let write = TextWrite(store: self, db: db, batch: db.makeBatch(), stats: TextStats(), rebuild: true)
        var pending = 0
        let total = catalog.liveCount
        try db.scan(Family.records) { _, value in
            let (memory, label) = try RecordCodec.decode(value)
            // Records the catalog left out (inconsistent ones, see `check`) are not searchable.
            guard catalog.isLive(label), catalog.ids[Int(label)] == memory.id else { return true }
            write.mark(label, analysed: textWriter.terms(memory.text))
            pending += 1
            if pending == Self.migrationBatch {
                try write.stage(seq: 0)
                try commit(write.batch, to: db, sync: false)
                write.batch = db.makeBatch()
                write.forgetTerms()
                pending = 0
                logger.info("full-text index: \(write.stats.documents) of \(total) memories")
            }
            return true
        }
        try write.stage(seq: 0)
        let stats = write.stats
        write.batch.put(Family.state, TextIndex.StateKey.stats, stats.encoded())
        write.batch.put(Family.state, TextIndex.StateKey.analyzer, Array(Self.textIndexDescriptor(settings.text).utf8))
        try commit(write.batch, to: db, sync: true)
        textStats = stats
        textIndexCurrent = true
        publishLocked()
        logger.notice("built the full-text index of \(stats.documents) memories (language \(analyzer.language)) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
    }
}
