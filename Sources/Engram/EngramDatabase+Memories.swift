import Foundation

extension EngramDatabase {
    /// Inserts or replaces memories in one atomic write, embedding the text of those given
    /// without a vector. Returns after the write is durable.
    public func upsert(_ request: UpsertRequest) async throws -> UpsertResponse {
        var memories = request.memories.map { $0.newMemory() }
        try await embedMissingVectors(&memories)
        return UpsertResponse(ids: try store.upsert(memories, sync: request.sync))
    }

    /// Writes memories (vectors given or already embedded) in one atomic write.
    @discardableResult
    public func upsert(_ memories: [NewMemory], sync: Bool? = nil) async throws -> [String] {
        var memories = memories
        try await embedMissingVectors(&memories)
        return try store.upsert(memories, sync: sync)
    }

    /// Runs `body` with a transaction over one atomic `WriteBatch`: memory upserts and
    /// deletes, puts to the column families the modules registered, and change-log
    /// watermarks commit together or not at all (see `StoreTransaction`). Vectors must be
    /// given (embed first with `embedMissingVectors`).
    public func write<T>(sync: Bool? = nil, _ body: (StoreTransaction) throws -> T) throws -> T {
        try store.write(sync: sync, body)
    }

    /// The memory `id` with the history of its importance, or `notFound`.
    public func get(_ request: GetRequest) throws -> MemoryRecord {
        var record = MemoryRecord(try store.get(request.id), includeVector: request.includeVector ?? false)
        let history = try ImportanceHistory.of(request.id, in: store)
        record.importanceHistory = history.isEmpty ? nil : history
        return record
    }

    /// Deletes by ids (unknown ids fail the whole delete unless `ignoreMissing`) or, with
    /// `all`, every memory matching the filter.
    public func delete(_ request: DeleteRequest) throws -> DeleteResponse {
        let ids = request.ids ?? []
        let filter = request.filter ?? FilterRequest()
        if !ids.isEmpty && !filter.isEmpty { throw EngramError.invalidArgument("give ids or a filter, not both") }
        if ids.isEmpty {
            guard request.all == true else {
                throw EngramError.invalidArgument("give ids to delete, or a filter with all = true to delete what matches")
            }
            return DeleteResponse(deleted: try store.delete(matching: filter.storeFilter))
        }
        return DeleteResponse(deleted: try store.delete(ids: ids, ignoreMissing: request.ignoreMissing ?? false))
    }

    /// The best memories for a text (embedded) or a vector, under the filters and scoring
    /// of `request` (defaults from engram.toml).
    public func query(_ request: QueryRequest) async throws -> QueryResponse {
        let mode = try Self.retrievalMode(of: request, default: store.settings.text.mode)
        var vector = request.vector ?? []
        if request.vector == nil, let text = request.text, mode != .text { vector = try await embedQuery(text) }
        return try answer(request, vector: vector)
    }

    /// `request` answered on the calling thread when it needs no embedding (it gives its
    /// vector, or ranks by words alone); nil when its text must be embedded first, which
    /// `query(_:)` does.
    public func queryWithoutEmbedding(_ request: QueryRequest) throws -> QueryResponse? {
        let mode = try Self.retrievalMode(of: request, default: store.settings.text.mode)
        if request.vector == nil && mode != .text { return nil }
        return try answer(request, vector: request.vector ?? [])
    }

    /// The retrieval mode of `request`, checked against what it gives.
    private static func retrievalMode(of request: QueryRequest, default mode: RetrievalMode) throws -> RetrievalMode {
        let k = request.k ?? 10
        guard (1...QueryRequest.maxK).contains(k) else {
            throw EngramError.invalidArgument("k must be between 1 and \(QueryRequest.maxK)")
        }
        if let text = request.text, text.isEmpty { throw EngramError.invalidArgument("the query text is empty") }
        let mode = request.mode ?? (request.text == nil ? .vector : mode)
        if mode != .vector && request.text == nil {
            throw EngramError.invalidArgument("\(mode.rawValue) retrieval needs a query text")
        }
        if request.text == nil && request.vector == nil { throw EngramError.invalidArgument("give a query text or a vector") }
        return mode
    }

    /// `queryWithoutEmbedding` of each of `requests`, answered in their order: the store
    /// searches them together (`MemoryStore.query(batch:)`), each answer the one it gets alone
    /// (its `tookMs` the batch's). A request whose text must be embedded first is answered nil.
    public func queryWithoutEmbedding(batch requests: [QueryRequest]) -> [Result<QueryResponse, any Error>?] {
        let prepared: [Result<(MemoryQuery, entities: [String]?), any Error>?] = requests.map { request in
            do {
                let mode = try Self.retrievalMode(of: request, default: store.settings.text.mode)
                if request.vector == nil && mode != .text { return nil }
                return .success(try memoryQuery(request, vector: request.vector ?? []))
            } catch {
                return .failure(error)
            }
        }
        var queries: [MemoryQuery] = []
        for case let .success((query, _))? in prepared { queries.append(query) }
        let started = DispatchTime.now()
        var results = store.query(batch: queries).makeIterator()
        let tookMs = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
        // One store result for each query made above, in their order.
        return prepared.map { item -> Result<QueryResponse, any Error>? in
            switch item {
            case nil: return nil
            case let .failure(error)?: return .failure(error)
            case let .success((_, entities))?: return results.next()!.map { Self.response($0, entities: entities, tookMs: tookMs) }
            }
        }
    }

    /// `request` searched with its query `vector` (empty for words alone).
    private func answer(_ request: QueryRequest, vector: [Float]) throws -> QueryResponse {
        let (query, entities) = try memoryQuery(request, vector: vector)
        let started = DispatchTime.now()
        let result = try store.query(query)
        let tookMs = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
        return Self.response(result, entities: entities, tookMs: tookMs)
    }

    /// The store's query for `request` with its query `vector`, and the entities of its text
    /// that the graph was entered at (with `graphHops`).
    private func memoryQuery(_ request: QueryRequest, vector: [Float]) throws -> (MemoryQuery, entities: [String]?) {
        var entities: [String]?
        var linked: [String: Double] = [:]
        if let hops = request.graphHops {
            guard let text = request.text else { throw EngramError.invalidArgument("graph hops need a query text (its entities are where the graph is entered)") }
            (entities, linked) = try linkedMemories(mentionedIn: text, hops: hops, asOf: request.now?.seconds ?? Date().timeIntervalSince1970)
        }
        var query = MemoryQuery(vector: vector, k: request.k ?? 10, filter: (request.filter ?? FilterRequest()).storeFilter,
                                scoring: (request.scoring ?? ScoringRequest()).storeOptions, now: request.now?.seconds,
                                touch: request.touch ?? false, fetchRecords: !(request.idsOnly ?? false),
                                text: request.text, mode: request.mode,
                                fusion: (request.fusion ?? FusionRequest()).storeOptions, explain: request.explain ?? false)
        query.linked = linked
        return (query, entities)
    }

    private static func response(_ result: QueryResult, entities: [String]?, tookMs: Double) -> QueryResponse {
        QueryResponse(results: result.results.map { QueryHit($0, mode: result.mode) }, tookMs: tookMs,
                      plan: result.plan, scored: result.scored, mode: result.mode, terms: result.terms, entities: entities)
    }

    /// Counts, index state and disk use.
    public func stats() throws -> StatsResponse { StatsResponse(try store.stats()) }

    /// Verifies that every live memory is searchable and nothing else is.
    public func check() throws -> CheckResponse { CheckResponse(try store.check()) }

    /// Rebuilds the index without tombstones (retraining IVF for the current size).
    public func compact() throws -> CompactResponse {
        let before = try store.stats()
        let started = Date()
        try store.compact()
        let after = try store.stats()
        return CompactResponse(memories: after.memories, index: after.indexKind, entriesBefore: before.indexEntries,
                               entriesAfter: after.indexEntries, seconds: Date().timeIntervalSince(started))
    }

    /// Visits every memory in id order.
    public func export(includeVectors: Bool, _ body: (MemoryRecord) throws -> Void) throws {
        try store.export(includeVectors: includeVectors) { try body(MemoryRecord($0, includeVector: includeVectors)) }
    }
}

extension EngramDatabase {
    /// How many live memories match `filter` (expiry measured at `now`, default the clock).
    public func count(_ filter: FilterRequest = FilterRequest(), now: Timestamp? = nil) -> Int {
        store.count(matching: filter.storeFilter, now: now?.seconds)
    }
}
