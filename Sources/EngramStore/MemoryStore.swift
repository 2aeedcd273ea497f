import EngramBase
import Foundation
import Logging
import Synchronization

/// A durable memory store: records in RocksDB (the source of truth), vectors in a FAISS
/// index derived from them, and an in-memory catalog for exact filtering and scoring.
///
/// Directory layout: `engram.toml` (settings), `kv/` (RocksDB), `index/` (FAISS snapshots).
///
/// Thread-safety: every method may be called from any thread. Writers take turns on one
/// lock; readers (queries, gets, counts, exports) never take it: they read the last
/// published `StoreView`, an immutable value that each committed write replaces, so they
/// run in parallel with each other and with writes, snapshots and rebuilds. Snapshots and
/// index rebuilds run on a background queue and swap in under the writer lock. Only one
/// process may open a directory for writing (RocksDB's lock); any number may open it
/// read-only.
public final class MemoryStore: @unchecked Sendable {
    public static let defaultNamespace = "default"
    /// The on-disk format this version writes. Format 1 kept the bound embedder in
    /// engram.toml and wrote change-log entries without ids; format 2 had no full-text index.
    /// Both are migrated on open.
    public static let formatVersion: UInt64 = 3

    /// Column families of `kv/` that the store owns.
    enum Family {
        static let records = "records"
        static let changes = "changes"
        static let state = "default"
        static let owned: Set<String> = Set([records, changes, state] + TextIndex.families)
    }
    enum StateKey {
        static let format: [UInt8] = Array("format".utf8)
        static let nextLabel: [UInt8] = Array("next_label".utf8)
        static let changeSeq: [UInt8] = Array("change_seq".utf8)
        static let trimmedThrough: [UInt8] = Array("changes_trimmed_through".utf8)
        static let embedder: [UInt8] = Array("embedder".utf8)
    }

    /// What a host registers when it opens a database: the column families its modules own
    /// and the change-log consumers they keep.
    public struct Registration: Sendable {
        /// Column families written through `StoreTransaction.put`; created if missing.
        public var columnFamilies: [String]
        /// Named change-log consumers; the log is kept until each has applied it.
        public var consumers: [String]
        /// Sections of engram.toml that the host's modules read; any other section that is
        /// not the store's is reported as unknown (a misspelt `[scorng]` must not be ignored).
        public var settingsSections: Set<String>
        public init(columnFamilies: [String] = [], consumers: [String] = [], settingsSections: Set<String> = []) {
            self.columnFamilies = columnFamilies
            self.consumers = consumers
            self.settingsSections = settingsSections
        }
    }

    public let directory: URL
    public let settings: StoreSettings
    /// `engram.toml` as it was read at open, for the sections of the host's modules
    /// (`Registration.settingsSections`).
    public let settingsDocument: SettingsDocument
    public let readOnly: Bool
    let logger: Logger
    /// Serialises writers (and the writer-side state below).
    let lock = NSLock()
    var db: RocksDB?
    /// What readers see; replaced (under `lock`) after every change to the state below.
    let published: Mutex<StoreView>
    /// Background work: snapshots and rebuilds (GCD threads, not Swift's cooperative pool).
    let maintenance: DispatchQueue = {
        let queue = DispatchQueue(label: "engram.store.maintenance", qos: .utility)
        queue.setSpecific(key: maintenanceKey, value: ())
        return queue
    }()
    /// Marks the maintenance queue, so that work running on it never waits for itself.
    static let maintenanceKey = DispatchSpecificKey<Void>()
    var snapshotRunning = false
    /// Set while `releaseFreeMemoryWhenQuiet` waits for writes to pause.
    var heapTrimArmed = false
    /// Id lookups made without the id index (see `liveLabel(of:)`).
    var idLookups = 0
    /// Dead labels that nothing refers to any more (no index entry, posting or place in the
    /// time order), smallest last: new memories take them before fresh labels, so that
    /// update churn does not grow the columns, the codes and the vector file for good. A
    /// rebuild frees the labels that were dead when it started (see `takeFreeLabel`).
    var freeLabels: [Int64] = []
    /// Set when every dead label is free but `freeLabels` is not listed yet (an open whose
    /// index and catalog hold no dead entries).
    var deadLabelsAreFree = false
    var rebuildRunning = false
    /// Set while the running rebuild only grows the lists of an IVF index, keeping its codes,
    /// because this store's writes grew the count: `close` stops it rather than wait.
    var rebuildMayStopAtClose = false
    /// The threads of a background rebuild: all but one of the store's (`threads`), at least
    /// one, while the store serves; all of them once `close` waits for it.
    let buildThreads: BuildThreads
    /// Set by `close`: no background work starts after it.
    var closing = false
    let registeredFamilies: Set<String>
    var catalog: Catalog
    var index: VectorIndex
    var nextLabel: Int64
    var changeSeq: UInt64
    /// The change sequence covered by the newest snapshot on disk.
    var snapshotSeq: UInt64
    /// Durable watermarks of the registered change-log consumers (the index's included).
    var consumers: [String: UInt64]
    /// Changes at or below this were removed from the log.
    var trimmedThrough: UInt64
    /// The embedder whose vectors this database holds ("" while only vectors were given).
    var boundEmbedder: String
    /// Set by the first failed write; see `commit`.
    var writeFailure: EngramError?
    /// The vectors by label (nil only for a format-1 database opened read-only, whose
    /// vectors are still inside its records).
    let vectorFile: VectorFile?
    /// Where full vectors are read: the vector file, or a format-1 database's records.
    let vectorSource: VectorSource
    /// How many memories the codes' quantizer was trained on (0: the uniform quantizer).
    var quantizerTrainedOn = 0
    /// The full-text index's analyser (from `[text]`).
    let analyzer: TextAnalyzer
    /// Sessions of `analyzer` for writers' batches and queries (stem caches kept warm).
    let analysis: AnalysisPool
    /// This open store, as `PreparedMemory` names the store that prepared it.
    let identity = UUID()
    /// The writers' analysis session (used under the writer lock).
    let textWriter: AnalysisSession
    /// The text index's collection statistics (writer side; readers see the view's).
    var textStats: TextStats
    /// The newest postings blocks, so that merges of new memories do not read them back
    /// (the text merge queue's).
    var postingCache: PostingCache
    /// Full-text segments committed but not yet merged into the postings blocks, oldest first.
    var pendingText: PendingText
    /// Set while a text merge is queued to run at once, and while a delayed one is.
    var textMergeScheduled = false
    var textMergeTimed = false
    /// Set inside `pausingTextMerges` (writers then never wait for merges).
    var textMergesPaused = false
    /// Merges pending full-text segments into the postings blocks, one merge at a time, beside
    /// the writers (GCD thread, not Swift's cooperative pool).
    let textMerge: DispatchQueue = {
        let queue = DispatchQueue(label: "engram.store.text-merge", qos: .utility)
        queue.setSpecific(key: textMergeKey, value: ())
        return queue
    }()
    /// Marks the text merge queue, so that work running on it never waits for itself.
    static let textMergeKey = DispatchSpecificKey<Void>()
    /// The memories of each thread in order, for context windows (built at open; nil while
    /// `[text] context_window` is 0).
    var threads: ThreadIndex?
    /// Whether the text index on disk was built by `analyzer` (false: a read-only open of a
    /// database whose index is missing or was built otherwise; a writable open rebuilds it).
    var textIndexCurrent: Bool

    var indexDirectory: URL { directory.appendingPathComponent("index") }
    static func settingsURL(_ dir: URL) -> URL { dir.appendingPathComponent("engram.toml") }
    static func kvURL(_ dir: URL) -> URL { dir.appendingPathComponent("kv") }

    // MARK: Create and open

    /// Creates a new database in `directory` (which may exist but must not hold a database).
    /// Writes `engram.toml` once, from `settings`; Engram never rewrites it.
    public static func create(at directory: URL, settings: StoreSettings = StoreSettings(),
                              registration: Registration = Registration(),
                              logger: Logger = Logger(label: "engram.store")) throws -> MemoryStore {
        try settings.validate()
        let fm = FileManager.default
        if fm.fileExists(atPath: settingsURL(directory).path) || fm.fileExists(atPath: kvURL(directory).path) {
            throw EngramError.alreadyExists(path: directory.path)
        }
        do {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            try fm.createDirectory(at: directory.appendingPathComponent("index"), withIntermediateDirectories: true)
        } catch {
            throw EngramError.storage("cannot create \(directory.path): \(error.localizedDescription)")
        }
        // RocksDB first: if that fails there is no engram.toml claiming a database exists.
        do {
            let db = try RocksDB(path: kvURL(directory).path, columnFamilies: Array(Family.owned), readOnly: false)
            let batch = db.makeBatch()
            batch.put(Family.state, StateKey.format, encodeU64(formatVersion))
            batch.put(Family.state, TextIndex.StateKey.analyzer, Array(textIndexDescriptor(settings.text).utf8))
            try db.write(batch, sync: true)
        }
        try writeInitialSettings(settings, to: directory)
        return try open(at: directory, registration: registration, logger: logger)
    }

    /// Opens an existing database. With `readOnly`, nothing on disk is changed (the index is
    /// brought up to date in memory only) and other processes may hold the write lock.
    public static func open(at directory: URL, readOnly: Bool = false, registration: Registration = Registration(),
                            logger: Logger = Logger(label: "engram.store")) throws -> MemoryStore {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw EngramError.notADatabase(path: directory.path, reason: "no such directory")
        }
        guard let data = fm.contents(atPath: settingsURL(directory).path) else {
            throw EngramError.notADatabase(path: directory.path, reason: "no engram.toml")
        }
        guard fm.fileExists(atPath: kvURL(directory).appendingPathComponent("CURRENT").path) else {
            throw EngramError.notADatabase(path: directory.path, reason: "no kv/ store")
        }
        let document = try SettingsDocument(parsing: String(decoding: data, as: UTF8.self))
        let settings = try StoreSettings(document)
        let unknown = document.unclaimedSections(claimed: StoreSettings.sections.union(registration.settingsSections))
        guard unknown.isEmpty else {
            let known = StoreSettings.sections.union(registration.settingsSections).sorted().map { "[\($0)]" }
            throw EngramError.invalidSettings("unknown section\(unknown.count == 1 ? "" : "s") \(unknown.map { "[\($0)]" }.joined(separator: ", ")) (known: \(known.joined(separator: ", ")))")
        }
        let families = Array(Family.owned) + registration.columnFamilies
        let db = try RocksDB(path: kvURL(directory).path, columnFamilies: families, readOnly: readOnly)
        return try MemoryStore(directory: directory, settings: settings, document: document, db: db, readOnly: readOnly,
                               registration: registration, logger: logger)
    }

    private init(directory: URL, settings: StoreSettings, document: SettingsDocument, db: RocksDB, readOnly: Bool,
                 registration: Registration, logger: Logger) throws {
        self.directory = directory
        self.settings = settings
        settingsDocument = document
        self.readOnly = readOnly
        self.logger = logger
        self.db = db
        registeredFamilies = Set(Family.owned).union(registration.columnFamilies)
        FaissIndex.setThreads(settings.effectiveThreads)
        // Matrix products run in the writer (IVF assignment) and in background builds, beside
        // queries: they leave a core to the queries.
        FaissIndex.setBLASThreads(max(1, settings.effectiveThreads - 1))
        buildThreads = BuildThreads(max(1, settings.effectiveThreads - 1))

        let format = try db.get(Family.state, StateKey.format).map(Self.decodeU64) ?? 1
        guard format <= Self.formatVersion else {
            throw EngramError(.failedPrecondition, "\(directory.path) was written by a newer Engram (format \(format); this version reads up to \(Self.formatVersion))",
                              reason: .newerFormat)
        }
        let nextLabel = Int64(bitPattern: try db.get(Family.state, StateKey.nextLabel).map(Self.decodeU64) ?? 0)
        let changeSeq = try db.get(Family.state, StateKey.changeSeq).map(Self.decodeU64) ?? 0
        let trimmedThrough = try db.get(Family.state, StateKey.trimmedThrough).map(Self.decodeU64) ?? 0
        self.nextLabel = nextLabel
        postingCache = PostingCache(labelsIssued: nextLabel)
        self.changeSeq = changeSeq
        self.trimmedThrough = trimmedThrough
        // Format 1 recorded the bound embedder in engram.toml.
        boundEmbedder = try db.get(Family.state, StateKey.embedder).map { String(decoding: $0, as: UTF8.self) }
            ?? settings.legacyEmbedder

        let clock = OpenClock()
        let vectorFile: VectorFile?
        if readOnly && format < 2 && !FileManager.default.fileExists(atPath: directory.appendingPathComponent(VectorFile.fileName).path) {
            vectorFile = nil
        } else {
            vectorFile = try VectorFile(directory: directory, dimension: settings.dimension, readOnly: readOnly)
        }
        self.vectorFile = vectorFile
        let indexDir = directory.appendingPathComponent("index")
        analyzer = TextAnalyzer(settings.text)
        analysis = AnalysisPool(analyzer)
        textWriter = try analyzer.session()
        textStats = try db.get(Family.state, TextIndex.StateKey.stats).map(TextStats.init) ?? TextStats()
        textIndexCurrent = try db.get(Family.state, TextIndex.StateKey.analyzer).map { String(decoding: $0, as: UTF8.self) }
            == Self.textIndexDescriptor(settings.text)
        var pending: [TextSegment] = []
        try db.scan(TextSegment.family) { key, value in
            pending.append(try TextSegment.decode(seq: Keys.readU64(key), value))
            return true
        }
        pendingText = PendingText(segments: pending)

        // 1. The newest snapshot (columns, codes, index) and the changes after it: only the
        // records those changes name are read.
        var recovered: (snapshot: IndexSnapshot.Loaded, catalog: Catalog, index: VectorIndex)?
        if format >= 2, let vectorFile,
           let loaded = IndexSnapshot.loadNewest(in: indexDir, settings: settings, logger: logger),
           loaded.seq <= changeSeq, loaded.seq >= trimmedThrough, loaded.catalog.labelCount <= Int(nextLabel) {
            do {
                var catalog = loaded.catalog
                var index = loaded.index
                let replayed = try Self.replay(changesAfter: loaded.seq, db: db, catalog: &catalog, index: &index,
                                               vectors: vectorFile, nextLabel: nextLabel)
                if replayed > 0 { logger.info("index snapshot at change \(loaded.seq): replayed \(replayed) newer changes") }
                recovered = (loaded, catalog, index)
            } catch {
                logger.warning("replaying changes onto the index snapshot failed (\(error)); rebuilding from the records")
            }
        }
        clock.lap("snapshot")

        let catalog: Catalog
        let source: VectorSource
        var inlineLabels: [(id: String, label: Int64)] = []
        if let recovered {
            catalog = recovered.catalog
            source = vectorFile!
            index = recovered.index
            quantizerTrainedOn = recovered.snapshot.trainedOn
            snapshotSeq = recovered.snapshot.seq
        } else {
            // 2. Without a usable snapshot: the catalog from every record (format-1 records
            // still hold their vectors), then the index and codes from the vectors.
            var scanned = try Self.scanRecords(db: db, settings: settings, nextLabel: nextLabel,
                                               rowsOnFile: vectorFile?.rowCapacity ?? 0, logger: logger)
            clock.lap("records")
            inlineLabels = scanned.inlineLabels
            if let vectorFile, inlineLabels.isEmpty || !readOnly { source = vectorFile } else { source = scanned.inline }
            if !readOnly && format < 2 {
                try Self.moveInlineVectors(inlineLabels, from: scanned.inline, to: vectorFile!)
            }
            if !IndexSnapshot.snapshots(in: indexDir).isEmpty || IndexSnapshot.hasOtherFiles(in: indexDir) {
                logger.notice("index snapshot unusable: rebuilding the index from \(scanned.catalog.liveCount) memories")
            } else if scanned.catalog.liveCount > 0 {
                // Small databases are closed without a snapshot; building theirs is cheap.
                logger.info("no index snapshot: building the index from \(scanned.catalog.liveCount) memories")
            }
            let built = try VectorIndex.build(settings: settings, labels: scanned.catalog.liveLabels(), labelCapacity: Int(nextLabel),
                                              vectors: source, logger: logger)
            scanned.catalog.codes = built.codes
            catalog = scanned.catalog
            index = built.index
            quantizerTrainedOn = built.trainedOn
            snapshotSeq = 0
            clock.lap("index")
        }
        vectorSource = source
        self.catalog = catalog
        if settings.text.contextWindow > 0 { threads = ThreadIndex(field: settings.text.threadField, catalog: catalog) }
        clock.lap("threads")
        published = Mutex(StoreView(db: db, snapshot: db.snapshot(), catalog: catalog, index: index, vectors: source,
                                    textStats: textStats, textIndexCurrent: textIndexCurrent,
                                    pendingText: pendingText, threads: threads))
        logger.info("opened \(directory.path): \(clock.laps)")

        // 3. The change-log consumers: the index's watermark is its snapshot's.
        var consumers: [String: UInt64] = [:]
        for name in registration.consumers where name != ChangeLog.indexConsumer {
            consumers[name] = try db.get(Family.state, ChangeLog.watermarkKey(name)).map(Self.decodeU64) ?? 0
        }
        consumers[ChangeLog.indexConsumer] = snapshotSeq
        self.consumers = consumers

        guard !readOnly else { return }
        deadLabelsAreFree = index.tombstones == 0 && catalog.deadInIndexes == 0 && catalog.liveCount < catalog.labelCount
        if format < Self.formatVersion { try migrate(from: format, db: db, inlineLabels: inlineLabels) }
        if !textIndexCurrent { try locked { try rebuildTextIndexLocked(db: db) } }
        locked { scheduleTextMergeLocked() }
        if recovered == nil && catalog.liveCount > 0 { try saveSnapshotLocked() }
        if index.shouldGrow(liveCount: catalog.liveCount, codes: catalog.codes, quantizerTrainedOn: quantizerTrainedOn) {
            // E.g. the index setting was changed in engram.toml, or a rebuild was cut short by
            // a crash: the index on hand serves (exactly) while a better one is built.
            locked { scheduleRebuildLocked() }
        }
    }

    /// Times the phases of an open, for the log.
    private final class OpenClock {
        private var last = DispatchTime.now()
        private(set) var laps: [String] = []
        func lap(_ name: String) {
            let now = DispatchTime.now()
            laps.append(String(format: "%@ %.1f ms", name, Double(now.uptimeNanoseconds - last.uptimeNanoseconds) / 1e6))
            last = now
        }
    }

    /// Writes the vectors of format-1 records to the vector file, synced, before any record
    /// loses its copy (see `migrate`).
    private static func moveInlineVectors(_ labels: [(id: String, label: Int64)], from inline: InlineVectors,
                                          to file: VectorFile) throws {
        guard !labels.isEmpty else { return }
        let sorted = labels.map(\.label).sorted()
        for start in stride(from: 0, to: sorted.count, by: migrationBatch) {
            let part = sorted[start..<min(start + migrationBatch, sorted.count)]
            let rows = try inline.rows(part)
            try rows.withUnsafeBufferPointer { try file.write(labels: Array(part), vectors: $0) }
        }
        try file.sync()
    }

    /// Brings a database of an older format up to this one. Format 1 kept each vector in its
    /// record and the bound embedder in engram.toml: the vectors were moved to the vector file
    /// (synced) by `moveInlineVectors`; here the records are rewritten without them in bounded
    /// batches. Format 2 had no full-text index: it is built from the records. The format is
    /// recorded last, so that a crash part-way leaves a database that opens and finishes the
    /// migration.
    private func migrate(from format: UInt64, db: RocksDB, inlineLabels: [(id: String, label: Int64)]) throws {
        let started = Date()
        for start in stride(from: 0, to: inlineLabels.count, by: Self.migrationBatch) {
            let batch = db.makeBatch()
            for entry in inlineLabels[start..<min(start + Self.migrationBatch, inlineLabels.count)] {
                guard let memory = try readRecord(entry.id, withVector: false) else { continue }
                batch.put(Family.records, Array(entry.id.utf8), RecordCodec.encode(memory, label: entry.label))
            }
            try commit(batch, to: db, sync: true)
        }
        if !textIndexCurrent { try locked { try rebuildTextIndexLocked(db: db) } }
        locked { scheduleTextMergeLocked() }
        let batch = db.makeBatch()
        if format < 2 && !boundEmbedder.isEmpty {
            batch.put(Family.state, StateKey.embedder, Array(boundEmbedder.utf8))
        }
        batch.put(Family.state, StateKey.format, Self.encodeU64(Self.formatVersion))
        try commit(batch, to: db, sync: true)
        logger.notice("migrated \(directory.path) from format \(format) to \(Self.formatVersion) (\(inlineLabels.count) vectors moved to \(VectorFile.fileName), full-text index built) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
    }

    /// Vectors moved and records rewritten per batch by a migration.
    static let migrationBatch = 10_000

    /// What a scan of every record yields.
    private struct ScannedRecords {
        var catalog: Catalog
        let inline: InlineVectors
        var inlineLabels: [(id: String, label: Int64)]
    }

    /// Builds the catalog from every record. A corrupt record is left out (and reported by
    /// `check`) rather than stopping the open: the rest of the database stays usable.
    private static func scanRecords(db: RocksDB, settings: StoreSettings, nextLabel: Int64, rowsOnFile: Int64,
                                    logger: Logger) throws -> ScannedRecords {
        var catalog = Catalog(dimension: settings.dimension)
        catalog.reserveLabels(Int(nextLabel))
        var inconsistent = 0
        let inline = InlineVectors(dimension: settings.dimension)
        var inlineLabels: [(id: String, label: Int64)] = []
        let parser = try RecordCodec.metaParser()
        try db.scan(Family.records) { _, value in
            var (memory, label) = try RecordCodec.decode(value, parser: parser)
            let hasInline = !memory.vector.isEmpty
            guard label >= 0, label < nextLabel, !catalog.isLive(label),
                  hasInline ? memory.vector.count == settings.dimension : label < rowsOnFile else {
                inconsistent += 1
                return true
            }
            if hasInline {
                inline.set(label, memory.vector)
                inlineLabels.append((memory.id, label))
                memory.vector = []
            }
            catalog.insert(memory, label: label)
            return true
        }
        catalog.compactIndexes()
        if inconsistent > 0 {
            logger.error("\(inconsistent) records are inconsistent (bad label or dimension) and are not searchable; run `engram check`")
        }
        return ScannedRecords(catalog: catalog, inline: inline, inlineLabels: inlineLabels)
    }

    /// Applies the logged changes after `seq` to a snapshot's catalog, codes and index,
    /// reading only the records the changes name. Returns how many changes there were.
    private static func replay(changesAfter seq: UInt64, db: RocksDB, catalog: inout Catalog, index: inout VectorIndex,
                               vectors: VectorSource, nextLabel: Int64) throws -> Int {
        let indexed = catalog.labelCount
        catalog.reserveLabels(Int(nextLabel))
        var count = 0
        var inserted: [Int64] = []
        var insertedHere = Set<Int64>()
        var removedFromIndex = 0
        try db.scan(Family.changes, from: Keys.u64(seq + 1)) { key, value in
            let change = try ChangeLog.decode(seq: Keys.readU64(key), value)
            count += 1
            switch change.kind {
            case .upsert, .touch:
                // The record holds its newest version: it applies if it is this one.
                guard let raw = try db.get(Family.records, Array(change.id.utf8)) else { return true }
                let (memory, label) = try raw.withUnsafeBytes { try RecordCodec.decode($0) }
                guard label == change.label else { return true }
                if change.kind == .upsert {
                    catalog.insert(memory, label: label)
                    inserted.append(label)
                    insertedHere.insert(label)
                } else {
                    catalog.setAccessed(label: label, at: memory.lastAccessedAt ?? memory.time)
                }
            case .delete:
                // (A label below `indexed` may be a reused one that this replay inserted: not in the index.)
                if catalog.isLive(change.label) && change.label < indexed && !insertedHere.contains(change.label) {
                    removedFromIndex += 1
                }
                catalog.remove(label: change.label)
            }
            return true
        }
        let live = inserted.filter { catalog.isLive($0) }.sorted()
        catalog.sortPostings()
        catalog.indexInserted(live)
        index.remove(count: removedFromIndex)
        try index.add(live, from: vectors, encodingInto: &catalog.codes)
        return count
    }

    /// Rebuilds the index and the codes from the live memories' vectors (retraining the
    /// quantizer and the IVF lists for today's size), then saves a snapshot.
    func rebuildLocked() throws {
        let built = try VectorIndex.build(settings: settings, labels: catalog.liveLabels(), labelCapacity: catalog.labelCount,
                                          vectors: vectorSource, logger: logger)
        catalog.codes = built.codes
        index = built.index
        quantizerTrainedOn = built.trainedOn
        publishLocked()
        try saveSnapshotLocked()
    }

    /// Saves an index snapshot covering every change so far, advances the index consumer's
    /// watermark and trims the change log at the lowest watermark.
    func saveSnapshotLocked() throws {
        guard !readOnly, writeFailure == nil, db != nil else { return }
        try IndexSnapshot.save(index, catalog: catalog, trainedOn: quantizerTrainedOn, seq: changeSeq, in: indexDirectory)
        try recordSnapshotLocked(changeSeq)
    }

    /// Stages the removal of changes every consumer has applied; returns the new trim point.
    func trimLocked(_ batch: WriteBatch, watermarks: [String: UInt64]) -> UInt64 {
        let lowest = watermarks.values.min() ?? changeSeq
        guard lowest > trimmedThrough else { return trimmedThrough }
        batch.deleteRange(Family.changes, from: Keys.u64(0), to: Keys.u64(lowest + 1))
        batch.put(Family.state, StateKey.trimmedThrough, Self.encodeU64(lowest))
        return lowest
    }

    /// Commits `batch`. After a storage failure (a full disk, an I/O error) every later write
    /// is refused until the database is reopened: RocksDB must not be written to after a
    /// failed WAL write, and nothing acknowledged before the failure is affected.
    func commit(_ batch: WriteBatch, to db: RocksDB, sync: Bool) throws {
        if let writeFailure {
            throw EngramError.storage("writes are stopped after an earlier failure (\(writeFailure)); close and reopen the database once it is fixed")
        }
        do {
            try db.write(batch, sync: sync)
        } catch let error as EngramError {
            if error.isStorageFailure { writeFailure = error }
            throw error
        }
    }

    /// Whether closing should snapshot the index: when replaying the changes since the last
    /// snapshot would slow the next open by more than a snapshot costs to write (at least
    /// `closeSnapshotMinimum` changes, and at least 1/32 of the live memories: replaying a
    /// change costs about 20 times what writing one memory into a snapshot does, and opens
    /// are what users wait for). Otherwise closing costs nothing beyond the writes made.
    var snapshotDueAtClose: Bool {
        let pending = changeSeq - snapshotSeq
        return pending >= UInt64(Self.closeSnapshotMinimum) && pending >= UInt64(catalog.liveCount / 32)
    }

    /// Memtable bytes from which closing flushes RocksDB (below, the next open replays them).
    static let closeFlushMinimum = 1 << 20

    /// Fewest pending changes for which closing writes an index snapshot.
    static let closeSnapshotMinimum = 1000

    /// False once `close()` has begun.
    public var isOpen: Bool { locked { db != nil && !closing } }

    /// Releases the database. Background work is finished first (a rebuild in progress
    /// completes and saves its snapshot: rebuilds are due only after the count grew by a
    /// factor, so this stays amortised O(changes)) and pending full-text segments are merged;
    /// then an index snapshot is saved only if one is due (`snapshotDueAtClose`). One rebuild
    /// is stopped instead of waited for: one that only doubles the lists of an IVF index,
    /// started because this store's writes grew the count (`rebuildMayStopAtClose`). The lists
    /// on hand serve meanwhile as they did (automatic probes scan as many vectors with half the
    /// lists; a fixed `nprobe` scans twice as many), and the next writable open starts the
    /// rebuild again, in the background, and finishes it by its own close at the latest: a
    /// batch job such as `engram watch` ends when its changes are durable, and the growth is
    /// not lost. Later calls fail with `EngramError.closed`; queries already running finish
    /// on the view they hold. Called automatically on deinit (errors are then logged).
    public func close() throws {
        guard locked({ db != nil }) else { return }
        locked {
            if rebuildRunning && rebuildMayStopAtClose {
                buildThreads.stop()
                logger.debug("closing: stopping the growth of the IVF lists at its next chunk")
            } else {
                // A rebuild under way goes on with every core from its next chunk: nothing
                // else of this store runs while it is waited for.
                buildThreads.set(settings.effectiveThreads)
            }
        }
        // This merges the full-text segments still pending, so that the next opens (often
        // read-only commands, which cannot merge) read postings blocks only.
        waitForBackgroundWork()
        try locked {
            guard db != nil else { return }
            closing = true
            defer {
                db = nil
                publishLocked()
            }
            if !readOnly && writeFailure == nil && snapshotDueAtClose { try saveSnapshotLocked() }
            // A large log would slow the next open down; a few writes' worth is not worth a flush.
            if !readOnly && writeFailure == nil, let db, db.memtableBytes >= Self.closeFlushMinimum { try db.flush() }
        }
    }

    deinit {
        if db != nil {
            do { try close() } catch { logger.error("closing \(directory.path): \(error)") }
        }
    }

    func requireOpen() throws -> RocksDB {
        guard let db else { throw EngramError.closed }
        return db
    }

    func requireWritable() throws -> RocksDB {
        let db = try requireOpen()
        guard !readOnly else { throw EngramError.readOnly }
        return db
    }

    /// Runs `body` under the store's lock.
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Writes the commented `engram.toml` of a new database (temp file, fsync, rename).
    static func writeInitialSettings(_ settings: StoreSettings, to directory: URL) throws {
        let url = settingsURL(directory)
        let temp = directory.appendingPathComponent(".engram.toml.tmp")
        do {
            try Data(settings.toml().utf8).write(to: temp)
            try fsyncPath(temp.path)
            guard rename(temp.path, url.path) == 0 else { throw EngramError.storage(String(cString: strerror(errno))) }
            try fsyncPath(directory.path)
        } catch let error as EngramError {
            throw error
        } catch {
            throw EngramError.storage("cannot write \(url.path): \(error.localizedDescription)")
        }
    }

    /// The embedder whose vectors this database holds ("" while only vectors were given).
    public var embedder: String { locked { boundEmbedder } }

    /// Records the embedder whose vectors this database holds (in the database state, not
    /// in engram.toml). Refuses a different one, and a dimension that does not match.
    public func bindEmbedder(_ identifier: String, dimension: Int) throws {
        try locked {
            guard dimension == settings.dimension else {
                throw EngramError.invalidArgument("the embedder '\(identifier)' makes \(dimension)-dimensional vectors, but this database stores \(settings.dimension)")
            }
            if boundEmbedder == identifier { return }
            guard boundEmbedder.isEmpty else {
                throw EngramError.invalidArgument("this database was built with the embedder '\(boundEmbedder)', not '\(identifier)': its vectors would not be comparable")
            }
            let db = try requireWritable()
            let batch = db.makeBatch()
            batch.put(Family.state, StateKey.embedder, Array(identifier.utf8))
            try commit(batch, to: db, sync: true)
            boundEmbedder = identifier
        }
    }

    static func encodeU64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func decodeU64(_ bytes: [UInt8]) -> UInt64 {
        bytes.count == 8 ? bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } : 0
    }
}
