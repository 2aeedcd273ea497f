import Foundation
import Logging

/// A durable memory store: records in RocksDB (the source of truth), vectors in a FAISS
/// index derived from them, and an in-memory catalog for exact filtering and scoring.
///
/// Directory layout: `engram.toml` (settings), `kv/` (RocksDB), `index/` (FAISS snapshots).
///
/// Thread-safety: every method may be called from any thread; calls are serialised by one
/// lock. Only one process may open a directory for writing (RocksDB's lock); any number
/// may open it read-only.
public final class MemoryStore: @unchecked Sendable {
    public static let defaultNamespace = "default"

    /// Column families of `kv/`.
    enum Family {
        static let records = "records"
        static let changes = "changes"
        static let state = "default"
    }
    enum StateKey {
        static let nextLabel: [UInt8] = Array("next_label".utf8)
        static let changeSeq: [UInt8] = Array("change_seq".utf8)
        static let trimmedThrough: [UInt8] = Array("changes_trimmed_through".utf8)
    }
    enum ChangeOp: UInt8 { case add = 1, remove = 2 }

    public let directory: URL
    public private(set) var settings: StoreSettings
    public let readOnly: Bool
    let logger: Logger
    let lock = NSLock()
    var db: RocksDB?
    var catalog: Catalog
    var index: VectorIndex
    var nextLabel: Int64
    var changeSeq: UInt64
    /// The change sequence covered by the newest snapshot on disk.
    var snapshotSeq: UInt64
    /// Set by the first failed write; see `commit`.
    var writeFailure: StoreError?

    var indexDirectory: URL { directory.appendingPathComponent("index") }
    static func settingsURL(_ dir: URL) -> URL { dir.appendingPathComponent("engram.toml") }
    static func kvURL(_ dir: URL) -> URL { dir.appendingPathComponent("kv") }

    // MARK: Create and open

    /// Creates a new database in `directory` (which may exist but must not hold a database).
    public static func create(at directory: URL, settings: StoreSettings = StoreSettings(),
                              logger: Logger = Logger(label: "engram.store")) throws -> MemoryStore {
        try settings.validate()
        let fm = FileManager.default
        if fm.fileExists(atPath: settingsURL(directory).path) || fm.fileExists(atPath: kvURL(directory).path) {
            throw StoreError.alreadyExists(path: directory.path)
        }
        do {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            try fm.createDirectory(at: directory.appendingPathComponent("index"), withIntermediateDirectories: true)
        } catch {
            throw StoreError.storage("cannot create \(directory.path): \(error.localizedDescription)")
        }
        // RocksDB first: if that fails there is no engram.toml claiming a database exists.
        _ = try RocksDB(path: kvURL(directory).path, columnFamilies: [Family.records, Family.changes], readOnly: false)
        try writeSettings(settings, to: directory)
        return try open(at: directory, logger: logger)
    }

    /// Opens an existing database. With `readOnly`, nothing on disk is changed (the index is
    /// brought up to date in memory only) and other processes may hold the write lock.
    public static func open(at directory: URL, readOnly: Bool = false,
                            logger: Logger = Logger(label: "engram.store")) throws -> MemoryStore {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw StoreError.notADatabase(path: directory.path, reason: "no such directory")
        }
        guard let data = fm.contents(atPath: settingsURL(directory).path) else {
            throw StoreError.notADatabase(path: directory.path, reason: "no engram.toml")
        }
        guard fm.fileExists(atPath: kvURL(directory).appendingPathComponent("CURRENT").path) else {
            throw StoreError.notADatabase(path: directory.path, reason: "no kv/ store")
        }
        let settings = try StoreSettings.parse(String(decoding: data, as: UTF8.self))
        let db = try RocksDB(path: kvURL(directory).path, columnFamilies: [Family.records, Family.changes],
                             readOnly: readOnly)
        return try MemoryStore(directory: directory, settings: settings, db: db, readOnly: readOnly, logger: logger)
    }

    private init(directory: URL, settings: StoreSettings, db: RocksDB, readOnly: Bool, logger: Logger) throws {
        self.directory = directory
        self.settings = settings
        self.readOnly = readOnly
        self.logger = logger
        self.db = db
        FaissIndex.setThreads(settings.effectiveThreads)

        let nextLabel = Int64(bitPattern: try db.get(Family.state, StateKey.nextLabel).map(Self.decodeU64) ?? 0)
        let changeSeq = try db.get(Family.state, StateKey.changeSeq).map(Self.decodeU64) ?? 0
        let trimmedThrough = try db.get(Family.state, StateKey.trimmedThrough).map(Self.decodeU64) ?? 0
        self.nextLabel = nextLabel
        self.changeSeq = changeSeq

        // 1. The catalog, from the records.
        var catalog = Catalog(dimension: settings.dimension)
        catalog.reserveLabels(Int(nextLabel))
        try db.scan(Family.records) { _, value in
            let (memory, label) = try RecordCodec.decode(value)
            guard memory.vector.count == settings.dimension, label >= 0, label < nextLabel else {
                throw StoreError.storage("record '\(memory.id)' is inconsistent (label \(label), \(memory.vector.count) dimensions)")
            }
            catalog.insert(memory, label: label)
            return true
        }
        self.catalog = catalog

        // 2. The index: the newest snapshot plus the changes after it, or a rebuild.
        let indexDir = directory.appendingPathComponent("index")
        var recovered: (VectorIndex, UInt64)?
        if let (loaded, seq) = VectorIndex.loadNewest(in: indexDir, settings: settings, logger: logger),
           seq <= changeSeq, seq >= trimmedThrough {
            do {
                let replayed = try Self.replay(changesAfter: seq, db: db, into: loaded, catalog: catalog)
                try loaded.countTombstones(catalog: catalog)
                if replayed > 0 { logger.info("index snapshot at change \(seq): replayed \(replayed) newer changes") }
                recovered = (loaded, seq)
            } catch {
                logger.warning("replaying changes onto the index snapshot failed (\(error))")
            }
        }
        if let (loaded, seq) = recovered {
            index = loaded
            snapshotSeq = seq
        } else {
            if catalog.liveCount > 0 || !VectorIndex.snapshots(in: indexDir).isEmpty {
                logger.notice("index snapshot missing or unusable: rebuilding it from \(catalog.liveCount) memories")
            }
            index = try VectorIndex.build(settings: settings, catalog: catalog, logger: logger)
            snapshotSeq = 0
            if !readOnly && catalog.liveCount > 0 { try saveSnapshotLocked() }
        }
        if !readOnly && index.shouldGrow(liveCount: catalog.liveCount) {
            // E.g. the index setting was changed in engram.toml since the snapshot.
            index = try VectorIndex.build(settings: settings, catalog: catalog, logger: logger)
            try saveSnapshotLocked()
        }
        if !readOnly && changeSeq - snapshotSeq >= UInt64(settings.snapshotEvery) { try saveSnapshotLocked() }
    }

    /// Applies the logged changes after `seq` to `index`. Labels are never reused, so the
    /// outcome does not depend on order: add what is live now, remove what was removed.
    private static func replay(changesAfter seq: UInt64, db: RocksDB, into index: VectorIndex,
                               catalog: Catalog) throws -> Int {
        var adds: [Int64] = [], removes: [Int64] = []
        var count = 0
        try db.scan(Family.changes, from: Keys.u64(seq + 1)) { _, value in
            guard value.count == 9, let op = ChangeOp(rawValue: value[0]) else {
                throw StoreError.storage("corrupt change-log entry")
            }
            let label = Int64(bitPattern: UInt64(littleEndian: value.loadUnaligned(fromByteOffset: 1, as: UInt64.self)))
            count += 1
            switch op {
            case .add: adds.append(label)
            case .remove: removes.append(label)
            }
            return true
        }
        let removed = Set(removes)
        try index.remove(labels: removes)
        try index.add(labels: adds.filter { catalog.isLive($0) && !removed.contains($0) }, from: catalog)
        return count
    }

    /// Saves a FAISS snapshot covering every change so far, then trims the change log.
    func saveSnapshotLocked() throws {
        guard !readOnly, writeFailure == nil, let db else { return }
        try index.save(in: indexDirectory, seq: changeSeq)
        snapshotSeq = changeSeq
        let batch = db.makeBatch()
        batch.deleteRange(Family.changes, from: Keys.u64(0), to: Keys.u64(changeSeq + 1))
        batch.put(Family.state, StateKey.trimmedThrough, Self.encodeU64(changeSeq))
        try commit(batch, to: db, sync: true)
    }

    /// Commits `batch`. After a storage failure (a full disk, an I/O error) every later write
    /// is refused until the database is reopened: RocksDB must not be written to after a
    /// failed WAL write, and nothing acknowledged before the failure is affected.
    func commit(_ batch: WriteBatch, to db: RocksDB, sync: Bool) throws {
        if let writeFailure {
            throw StoreError.storage("writes are stopped after an earlier failure (\(writeFailure)); close and reopen the database once it is fixed")
        }
        do {
            try db.write(batch, sync: sync)
        } catch let error as StoreError {
            if case .storage = error { writeFailure = error }
            throw error
        }
    }

    /// Saves a snapshot if anything changed, and releases the database. Further calls fail
    /// with `StoreError.closed`. Called automatically on deinit (errors are then logged).
    public func close() throws {
        lock.lock()
        defer { lock.unlock() }
        guard db != nil else { return }
        defer { db = nil }
        if !readOnly && writeFailure == nil && changeSeq != snapshotSeq { try saveSnapshotLocked() }
    }

    deinit {
        if db != nil {
            do { try close() } catch { logger.error("closing \(directory.path): \(error)") }
        }
    }

    func requireOpen() throws -> RocksDB {
        guard let db else { throw StoreError.closed }
        return db
    }

    func requireWritable() throws -> RocksDB {
        let db = try requireOpen()
        guard !readOnly else { throw StoreError.readOnly }
        return db
    }

    /// Runs `body` under the store's lock.
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    static func writeSettings(_ settings: StoreSettings, to directory: URL) throws {
        let url = settingsURL(directory)
        let temp = directory.appendingPathComponent(".engram.toml.tmp")
        do {
            try Data(settings.toml().utf8).write(to: temp)
            try fsyncPath(temp.path)
            guard rename(temp.path, url.path) == 0 else { throw StoreError.storage(String(cString: strerror(errno))) }
            try fsyncPath(directory.path)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.storage("cannot write \(url.path): \(error.localizedDescription)")
        }
    }

    /// Records the embedder whose vectors this database holds. Refuses a different one.
    public func bindEmbedder(_ identifier: String, dimension: Int) throws {
        try locked {
            guard dimension == settings.dimension else {
                throw StoreError.invalidArgument("the embedder '\(identifier)' makes \(dimension)-dimensional vectors, but this database stores \(settings.dimension)")
            }
            if settings.legacyEmbedder == identifier { return }
            guard settings.legacyEmbedder.isEmpty else {
                throw StoreError.invalidArgument("this database was built with the embedder '\(settings.legacyEmbedder)', not '\(identifier)': its vectors would not be comparable")
            }
            _ = try requireWritable()
            var updated = settings
            updated.legacyEmbedder = identifier
            try Self.writeSettings(updated, to: directory)
            settings = updated
        }
    }

    static func encodeU64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func decodeU64(_ bytes: [UInt8]) -> UInt64 {
        bytes.count == 8 ? bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } : 0
    }
}
