import Engram
import Foundation

/// The socket API's methods over the facade, independent of any transport: a call takes its
/// parameters as JSON and gives its result as JSON (unary), or hands each message of a
/// stream to `emit`. Errors are `EngramError`s, whose codes are gRPC's status codes.
///
/// Thread-safety: calls may run concurrently (the facade is safe to share).
public struct EngramService: Sendable {
    public let database: EngramDatabase
    /// The model of `RAG/Ask`.
    let models: Models
    /// Called by `Admin/Shutdown`: the host begins its graceful shutdown.
    let shutdown: @Sendable () -> Void

    public init(database: EngramDatabase, models: Models, shutdown: @escaping @Sendable () -> Void) {
        self.database = database
        self.models = models
        self.shutdown = shutdown
    }

    /// Runs `method` with `params` (the members of the request's params object). A unary method returns
    /// its result; a streaming one calls `emit` for each message and returns nil.
    ///
    /// - Throws: `EngramError`: `.invalidArgument` for parameters of the wrong shape (the
    ///   field named), `.unimplemented` for a method this server does not offer, and the
    ///   facade's errors.
    public func call(_ method: RPCMethod, params: [String: JSONValue], emit: @Sendable (Data) async throws -> Void) async throws -> Data? {
        let db = database
        switch method {
        case .healthCheck:
            return try health()
        case .memoryUpsert:
            return try encode(try await db.upsert(try Self.decode(UpsertRequest.self, params)))
        case .memoryGet:
            let request = try Self.decode(GetRequest.self, params)
            return try encode(try await Self.offPool { try db.get(request) })
        case .memoryDelete:
            let request = try Self.decode(DeleteRequest.self, params)
            return try encode(try await Self.offPool { try db.delete(request) })
        case .memoryQuery:
            return try encode(try await db.query(try Self.decode(QueryRequest.self, params)))
        case .memoryStats:
            return try encode(try await Self.offPool { try db.stats() })
        case .memoryExport:
            let request = try Self.decode(ExportRequest.self, params)
            try await Self.forEachRecord(of: db, includeVectors: request.includeVectors ?? false) { try await emit(try encode($0)) }
            return nil
        case .graphEntity:
            let r = try Self.decode(GraphEntityRequest.self, params)
            return try encode(try await Self.offPool { try db.graphNeighbourhood(of: r.entity, depth: r.depth ?? 1, asOf: r.asOf) })
        case .graphPath:
            let r = try Self.decode(GraphPathRequest.self, params)
            return try encode(GraphPathResponse(edges: try await Self.offPool { try db.graphPath(from: r.from, to: r.to, maxHops: r.maxHops ?? 4, asOf: r.asOf) }))
        case .graphStats:
            return try encode(try await Self.offPool { try db.graphStats() })
        case .ingestStatus:
            return try encode(IngestStatusResponse(sources: try await Self.offPool { try db.ingestStatus() }))
        case .ingestErrors:
            let limit = try Self.decode(DeadLettersRequest.self, params).limit ?? 1000
            guard (1...DeadLettersRequest.maxLimit).contains(limit) else {
                throw EngramError.invalidArgument("limit must be between 1 and \(DeadLettersRequest.maxLimit)")
            }
            return try encode(DeadLettersResponse(deadLetters: try await Self.offPool { try db.deadLetters(limit: limit) }))
        case .ingestWatch:
            let request = try Self.decode(WatchRequest.self, params)
            guard request.paths.allSatisfy({ $0.hasPrefix("/") }) else {
                throw EngramError.invalidArgument("params.paths must be absolute (engramd reads them; its working directory is not the caller's)")
            }
            return try encode(try await db.watch(request))
        case .graphPurge:
            let before = try Self.decode(GraphPurgeRequest.self, params).before
            return try encode(GraphPurgeResponse(removed: try await Self.offPool { try db.graphPurge(before: before) }))
        case .ingestImport:
            try await importFile(try Self.decode(ImportRequest.self, params), emit: emit)
            return nil
        case .adminCompact:
            return try encode(try await Self.offPool { try db.compact() })
        case .adminShutdown:
            shutdown()
            return try encode(HealthResponse(status: "SHUTTING_DOWN", model: models.servingFile, modelLoadedAt: models.loadedAt))
        case .ragAsk:
            try await ask(try Self.decode(AskRequest.self, params), emit: emit)
            return nil
        case .ragFeedback:
            return try encode(try await db.feedback(try Self.decode(FeedbackRequest.self, params)))
        case .adminReloadModel:
            let request = try Self.decode(ReloadModelRequest.self, params)
            let models = self.models
            return try encode(try await Self.offPool { try models.reload(request.path) })
        case .controlCancel:
            // Cancelling is the transport's: it knows the calls of a connection.
            throw EngramError(.internal, "Control/Cancel reached the service")
        }
    }

    /// Runs `method` on the calling thread when it is a call short and bounded enough for the
    /// thread that read it (a connection's event loop): a Health check, a Get, or a Query by a
    /// given vector (no text to embed, no graph to walk, no access times written) for at most
    /// `maxK` memories. nil, with nothing done, for any other call (run it with `call`).
    ///
    /// - Throws: as `call`.
    package func callInline(_ method: RPCMethod, params: [String: JSONValue], maxK: Int) throws -> Data? {
        switch method {
        case .healthCheck:
            return try health()
        case .memoryGet:
            return try encode(try database.get(try Self.decode(GetRequest.self, params)))
        case .memoryQuery:
            guard let request = try inlineQuery(params, maxK: maxK) else { return nil }
            return try queryInline(batch: [request])[0].get()
        default:
            return nil
        }
    }

    /// The Query request in `params` when it is answered inline (a vector, no text or graph
    /// hops, no touch, at most `maxK` memories), else nil.
    package func inlineQuery(_ params: [String: JSONValue], maxK: Int) throws -> QueryRequest? {
        let request = try Self.decode(QueryRequest.self, params)
        guard request.vector != nil, request.text == nil, request.graphHops == nil, request.touch != true,
              (request.k ?? 10) <= maxK else { return nil }
        return request
    }

    /// Inline Query requests (see `inlineQuery`) answered together, in their order: each its
    /// answer's JSON or its error (see `EngramDatabase.queryWithoutEmbedding(batch:)`).
    package func queryInline(batch: [QueryRequest]) -> [Result<Data, any Error>] {
        database.queryWithoutEmbedding(batch: batch).map { answer in
            guard let answer else { return .failure(EngramError(.internal, "an inline query needed its text embedded")) }
            return answer.flatMap { response in Result { try encode(response) } }
        }
    }

    private func health() throws -> Data {
        try encode(HealthResponse(status: "SERVING", model: models.servingFile, modelLoadedAt: models.loadedAt))
    }

    /// Answers `request`, streaming the answer's pieces as they are generated and then the
    /// whole response (`AskStreamMessage`).
    private func ask(_ request: AskRequest, emit: @Sendable (Data) async throws -> Void) async throws {
        let generator = try models.generator()
        let templates = try database.promptTemplates()
        let (pieces, feed) = AsyncStream<String>.makeStream()
        let db = database
        async let answered = {
            defer { feed.finish() }
            return try await db.ask(request, generator: generator, templates: templates) { feed.yield($0) }
        }()
        for await piece in pieces { try await emit(try encode(AskStreamMessage(text: piece))) }
        try await emit(try encode(AskStreamMessage(response: try await answered)))
    }

    /// Imports the JSON Lines file the request names, streaming its progress, acknowledgements
    /// and skipped lines as they happen, then the summary (`ImportStreamMessage`).
    private func importFile(_ request: ImportRequest, emit: @Sendable (Data) async throws -> Void) async throws {
        guard request.path.hasPrefix("/") else {
            throw EngramError.invalidArgument("params.path must be absolute (engramd reads it; its working directory is not the caller's)")
        }
        let options = ImportOptions(batchSize: request.batchSize ?? 1000, defaultNamespace: request.namespace ?? MemoryStore.defaultNamespace,
                                    skipInvalid: request.skipInvalid ?? false, maxLineBytes: request.maxLineBytes ?? ImportOptions.defaultMaxLineBytes)
        let (events, feed) = AsyncStream<ImportStreamMessage>.makeStream()
        let db = database
        async let imported = {
            defer { feed.finish() }
            return try await db.importJSONL(path: request.path, options: options) { event in
                switch event {
                case let .progress(bytesRead, total, records):
                    feed.yield(ImportStreamMessage(progress: ImportProgress(bytesRead: bytesRead, total: total, records: records)))
                case let .acknowledged(line): feed.yield(ImportStreamMessage(acknowledged: line))
                case let .skipped(line, error): feed.yield(ImportStreamMessage(skipped: SkippedLine(line: line, message: error.message)))
                }
            }
        }()
        for await event in events { try await emit(try encode(event)) }
        try await emit(try encode(ImportStreamMessage(summary: try await imported)))
    }

    /// Calls `body` with each record, exported on a thread of its own at most `exportBuffer`
    /// ahead of `body`, so a slow client holds little memory; an error or cancellation in
    /// `body` stops the export.
    static func forEachRecord(of db: EngramDatabase, includeVectors: Bool, _ body: (MemoryRecord) async throws -> Void) async throws {
        let (stream, continuation) = AsyncThrowingStream<MemoryRecord, Error>.makeStream()
        let room = DispatchSemaphore(value: exportBuffer)
        let stop = OnceFlag()
        defer {
            stop.set()
            room.signal()
        }
        DispatchQueue.global().async {
            do {
                try db.export(includeVectors: includeVectors) { record in
                    room.wait()
                    if stop.isSet { throw CancellationError() }
                    continuation.yield(record)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        for try await record in stream {
            room.signal()
            try Task.checkCancellation()
            try await body(record)
        }
    }

    /// Runs the facade's blocking work (RocksDB reads, a compaction) on a Dispatch thread,
    /// never on Swift's cooperative pool, which the connections need.
    package static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Records an export reads ahead of the client.
    static let exportBuffer = 64

    private func encode(_ value: some Encodable) throws -> Data { try JSONTextEncoder().encode(value) }

    /// `T` from `params`, a decoding failure said as `.invalidArgument` naming the field.
    package static func decode<T: Decodable>(_ type: T.Type, _ params: [String: JSONValue]) throws -> T {
        do {
            return try JSONValueDecoder().decode(T.self, from: .object(params))
        } catch let error as DecodingError {
            throw EngramError.invalidArgument(Self.describe(error))
        }
    }

    /// `params.k: expected an integer` and the like, the path starting at `root`.
    package static func describe(_ error: DecodingError, root: String = "params") -> String {
        func path(_ keys: [CodingKey]) -> String {
            root + keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case let .typeMismatch(type, context): return "\(path(context.codingPath)): expected \(typeName(type))"
        case let .valueNotFound(type, context): return "\(path(context.codingPath)): expected \(typeName(type)), found null"
        case let .keyNotFound(key, context): return "\(path(context.codingPath + [key])) is missing"
        case let .dataCorrupted(context): return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "true or false"
        default: return String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}

