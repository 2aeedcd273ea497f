import EngramEmbed
@_exported import EngramStore
import Foundation
import Logging

/// An open Engram database directory: the memory store plus the pieces that turn text into
/// vectors. The one place that decides the order of things (embed, then write).
///
/// Thread-safety: safe to share; the store serialises its own calls and the embedder is
/// loaded once under a lock.
public final class EngramDatabase: @unchecked Sendable {
    public let store: MemoryStore
    public var directory: URL { store.directory }
    private let makeEmbedder: @Sendable () throws -> any Embedder
    private let lock = NSLock()
    private var loadedEmbedder: (any Embedder)?

    /// - Parameter embedder: builds the text embedder on first use (default: the MiniLM
    ///   model found by `EmbedderModelLocator`).
    public init(store: MemoryStore, embedder: (@Sendable () throws -> any Embedder)? = nil) {
        self.store = store
        let configuredPath = store.settings.embedderPath
        self.makeEmbedder = embedder ?? {
            try MiniLMEmbedder(modelDirectory: EmbedderModelLocator.locate(explicit: configuredPath.isEmpty ? nil : configuredPath))
        }
    }

    public static func create(at directory: URL, settings: StoreSettings = StoreSettings(),
                              logger: Logger = Logger(label: "engram")) throws -> EngramDatabase {
        EngramDatabase(store: try MemoryStore.create(at: directory, settings: settings, logger: logger))
    }

    public static func open(at directory: URL, readOnly: Bool = false,
                            logger: Logger = Logger(label: "engram")) throws -> EngramDatabase {
        EngramDatabase(store: try MemoryStore.open(at: directory, readOnly: readOnly, logger: logger))
    }

    /// The database directory named by `explicit`, else `$ENGRAM_DB`, else `./engram.db`.
    public static func location(_ explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let path = explicit ?? environment["ENGRAM_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? "engram.db"
        return URL(fileURLWithPath: (path as NSString).expandingTildeInPath).standardizedFileURL
    }

    /// The text embedder, loaded on first use, checked against the one the database was
    /// built with.
    public func embedder() throws -> any Embedder {
        try lock.withLock {
            if let loadedEmbedder { return loadedEmbedder }
            let embedder = try makeEmbedder()
            let bound = store.settings.legacyEmbedder
            if !bound.isEmpty && bound != embedder.modelIdentifier {
                throw StoreError.invalidArgument("this database was built with the embedder '\(bound)', not '\(embedder.modelIdentifier)': its vectors would not be comparable")
            }
            guard embedder.dimension == store.settings.dimension else {
                throw StoreError.invalidArgument("the embedder '\(embedder.modelIdentifier)' makes \(embedder.dimension)-dimensional vectors, but this database stores \(store.settings.dimension)")
            }
            loadedEmbedder = embedder
            return embedder
        }
    }

    /// Embeds texts for a query (does not bind the database to the embedder).
    public func embedQuery(_ text: String) async throws -> [Float] {
        let vectors = try await embedder().embed([text])
        return vectors[0]
    }

    /// Embeds texts for storage, recording the embedder in the database's settings.
    public func embedForStorage(_ texts: [String]) async throws -> [[Float]] {
        let embedder = try embedder()
        if !store.readOnly { try store.bindEmbedder(embedder.modelIdentifier, dimension: embedder.dimension) }
        return try await embedder.embed(texts)
    }

    /// Writes memories, embedding the text of those given without a vector. Atomic per call.
    @discardableResult
    public func upsert(_ memories: [NewMemory], sync: Bool? = nil) async throws -> [String] {
        var memories = memories
        let needText = memories.indices.filter { memories[$0].vector.isEmpty }
        if !needText.isEmpty {
            for i in needText where memories[i].text.isEmpty {
                throw StoreError.invalidArgument("memory '\(memories[i].id ?? "(new)")' has neither a vector nor text")
            }
            let vectors = try await embedForStorage(needText.map { memories[$0].text })
            for (i, v) in zip(needText, vectors) { memories[i].vector = v }
        }
        return try store.upsert(memories, sync: sync)
    }

    public func close() throws { try store.close() }
}
