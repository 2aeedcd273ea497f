import EngramEmbed
import EngramGraph
import EngramIngest
import Foundation
import Synchronization

/// An open Engram database directory: the one entry point of the library.
///
/// The CLI, the daemon and the socket server call this type and nothing below it. Its
/// requests and responses are `Codable`, `Sendable` values (see `API/`), so that every front
/// end speaks the same shapes. It decides the order of things (embed, then write) and
/// delegates the work to the modules it wires: the memory store, the embedder, and (as they
/// land) the full-text index, the graph and retrieve-then-generate.
///
/// Thread-safety: safe to share between threads and tasks. Writes are serialised by the
/// store; the embedder is loaded once, on first use. The library never writes to stdout;
/// it logs through the `Logger` it is given.
public final class EngramDatabase: Sendable {
    /// How to open a database.
    public struct OpenOptions: Sendable {
        public var directory: URL
        /// Open without the write lock: nothing on disk changes, and a writer may run.
        public var readOnly: Bool
        /// Create the database with these settings if the directory holds none.
        public var createWith: StoreSettings?
        public var logger: Logger
        /// Builds the text embedder on first use (default: the MiniLM model found by
        /// `EmbedderModelLocator`, or the database's `[embedder] path`).
        public var embedder: (@Sendable () throws -> any Embedder)?

        public init(directory: URL, readOnly: Bool = false, createWith: StoreSettings? = nil,
                    logger: Logger = Logger(label: "engram"), embedder: (@Sendable () throws -> any Embedder)? = nil) {
            self.directory = directory
            self.readOnly = readOnly
            self.createWith = createWith
            self.logger = logger
            self.embedder = embedder
        }
    }

    package let store: MemoryStore
    let logger: Logger
    private let makeEmbedder: @Sendable () throws -> any Embedder
    private let loadedEmbedder = Mutex<(any Embedder)?>(nil)

    /// The column families and change-log consumers of the modules this facade wires.
    static let registration = MemoryStore.Registration(columnFamilies: [AskCache.entries, AskCache.refs, AnswerLog.family,
                                                                        ImportanceHistory.family, GraphMentions.family]
                                                                        + IngestState.families + GraphKeys.families,
                                                       consumers: [AskCache.consumer, ImportanceHistory.consumer, GraphMentions.consumer],
                                                       settingsSections: [AskSettings.section, IngestSettings.section, GraphSettings.section,
                                                                          ServerSettings.section])

    /// The `[ask]` section of the database's engram.toml.
    public let askSettings: AskSettings
    /// The `[ingest]` section: the change-log format and the table mappings.
    public let ingestSettings: IngestSettings
    /// The `[graph]` section: the entities texts mention, and graph-aware retrieval.
    let graphSettings: GraphSettings
    /// The `[server]` section: the socket API of `engramd`.
    public let serverSettings: ServerSettings

    public var directory: URL { store.directory }
    public var settings: StoreSettings { store.settings }
    public var readOnly: Bool { store.readOnly }

    /// Opens the database in `options.directory`, creating it when it holds none and
    /// `createWith` is given.
    public static func open(_ options: OpenOptions) throws -> EngramDatabase {
        let store: MemoryStore
        let exists = FileManager.default.fileExists(atPath: options.directory.appendingPathComponent("engram.toml").path)
        if !exists, let settings = options.createWith, !options.readOnly {
            store = try MemoryStore.create(at: options.directory, settings: settings, registration: registration,
                                           logger: options.logger)
        } else {
            store = try MemoryStore.open(at: options.directory, readOnly: options.readOnly, registration: registration,
                                         logger: options.logger)
        }
        let db = try EngramDatabase(store: store, logger: options.logger, embedder: options.embedder)
        if !options.readOnly { try db.followChangeLog(pruneAnswers: true) }
        return db
    }

    /// Creates a new database (failing with `alreadyExists` if the directory holds one).
    public static func create(at directory: URL, settings: StoreSettings = StoreSettings(),
                              logger: Logger = Logger(label: "engram")) throws -> EngramDatabase {
        let store = try MemoryStore.create(at: directory, settings: settings, registration: registration, logger: logger)
        return try EngramDatabase(store: store, logger: logger, embedder: nil)
    }

    /// Opens an existing database.
    public static func open(at directory: URL, readOnly: Bool = false,
                            logger: Logger = Logger(label: "engram")) throws -> EngramDatabase {
        try open(OpenOptions(directory: directory, readOnly: readOnly, logger: logger))
    }

    private init(store: MemoryStore, logger: Logger, embedder: (@Sendable () throws -> any Embedder)?) throws {
        self.store = store
        self.logger = logger
        askSettings = try AskSettings(store.settingsDocument)
        ingestSettings = try IngestSettings(store.settingsDocument)
        graphSettings = try GraphSettings(store.settingsDocument)
        serverSettings = try ServerSettings(store.settingsDocument)
        let configuredPath = store.settings.embedderPath
        makeEmbedder = embedder ?? {
            try MiniLMEmbedder(modelDirectory: EmbedderModelLocator.locate(explicit: configuredPath.isEmpty ? nil : configuredPath))
        }
    }

    /// The database directory named by `explicit`, else `$ENGRAM_DB`, else `./engram.db`.
    public static func location(_ explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let path = explicit ?? environment["ENGRAM_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? "engram.db"
        return URL(fileURLWithPath: (path as NSString).expandingTildeInPath).standardizedFileURL
    }

    /// Releases the database (finishing background index work, and saving an index snapshot
    /// only when replaying the changes on the next open would cost more). Closing again does
    /// nothing; other calls after it fail with `closed`.
    public func close() throws {
        // The answer cache and the importance history follow the changes written meanwhile,
        // so that the change log's trimming is not held back until the next open.
        if !readOnly && store.isOpen {
            do { try followChangeLog(pruneAnswers: false) } catch { logger.warning("the answer cache, the importance history or the graph's mentions could not follow the change log: \(error)") }
        }
        try store.close()
    }

    /// Brings the state derived from the memories up to date with the change log: answers
    /// that used memories changed since leave the cache, deleted memories' importance
    /// history goes, and the graph holds what the texts mention; with `pruneAnswers`, answers
    /// past `[ask] answer_retention` are dropped.
    func followChangeLog(pruneAnswers: Bool) throws {
        try AskCache.collect(store)
        try ImportanceHistory.collect(store)
        try GraphMentions.follow(store, settings: graphSettings)
        if pruneAnswers { try AnswerLog.prune(store, retention: askSettings.answerRetention, now: Date().timeIntervalSince1970) }
    }

    /// Waits until the index rebuilds and snapshots that writes have started are done.
    /// Queries never need to (they are answered, exactly, from the index on hand); tools that
    /// measure or hand the database on do.
    public func waitForBackgroundWork() { store.waitForBackgroundWork() }

    // MARK: Embedding

    /// The text embedder, loaded on first use, checked against the one the database holds.
    public func embedder() throws -> any Embedder {
        try loadedEmbedder.withLock { loaded in
            if let loaded { return loaded }
            let embedder = try makeEmbedder()
            let bound = store.embedder
            if !bound.isEmpty && bound != embedder.modelIdentifier {
                throw EngramError.invalidArgument("this database was built with the embedder '\(bound)', not '\(embedder.modelIdentifier)': its vectors would not be comparable")
            }
            guard embedder.dimension == store.settings.dimension else {
                throw EngramError.invalidArgument("the embedder '\(embedder.modelIdentifier)' makes \(embedder.dimension)-dimensional vectors, but this database stores \(store.settings.dimension)")
            }
            loaded = embedder
            return embedder
        }
    }

    /// Embeds a query text (does not bind the database to the embedder).
    public func embedQuery(_ text: String) async throws -> [Float] {
        try await embedder().embed([text])[0]
    }

    /// Embeds texts for storage, recording the embedder in the database state.
    public func embedForStorage(_ texts: [String]) async throws -> [[Float]] {
        let embedder = try embedder()
        if !store.readOnly { try store.bindEmbedder(embedder.modelIdentifier, dimension: embedder.dimension) }
        return try await embedder.embed(texts)
    }

    /// Fills in the vector of every memory given without one, by embedding its text.
    public func embedMissingVectors(_ memories: inout [NewMemory]) async throws {
        let needText = memories.indices.filter { memories[$0].vector.isEmpty }
        guard !needText.isEmpty else { return }
        for i in needText where memories[i].text.isEmpty {
            throw EngramError.invalidArgument("memory '\(memories[i].id ?? "(new)")' has neither a vector nor text")
        }
        let vectors = try await embedForStorage(needText.map { memories[$0].text })
        for (i, v) in zip(needText, vectors) { memories[i].vector = v }
    }
}
