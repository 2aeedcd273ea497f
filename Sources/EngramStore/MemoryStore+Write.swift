import EngramBase
import Foundation
import Synchronization

extension MemoryStore {
    /// Runs `body` with a transaction and commits everything it staged as one atomic
    /// `WriteBatch`: memories, raw puts to registered column families and consumer
    /// watermarks are durable together or not at all. If `body` throws, nothing is written.
    /// Writes are serialised; the call returns after the batch is durable (unless `sync` is
    /// false, or the database's `sync` setting is off), then brings the index up to date.
    ///
    /// - Parameter now: the time recorded as `createdAt`/`updatedAt` (default: the clock).
    public func write<T>(sync: Bool? = nil, now: Double? = nil, _ body: (StoreTransaction) throws -> T) throws -> T {
        waitForTextMergeIfBehind()
        return try locked {
            let db = try requireWritable()
            let tx = StoreTransaction(store: self, batch: db.makeBatch(), now: now ?? Date().timeIntervalSince1970)
            do {
                let result = try body(tx)
                try commitLocked(tx, db: db, sync: sync ?? settings.sync)
                return result
            } catch {
                // Nothing was committed: the labels the transaction took are free again.
                freeLabels.append(contentsOf: tx.reusedLabels)
                freeLabels.sort(by: >)
                throw error
            }
        }
    }

    /// The live label of `id` (caller holds the writer lock). A few lookups read the record
    /// from RocksDB, so that a command that writes one memory does not index every id; past
    /// `idIndexThreshold` lookups the catalog's id index is built, and serves from then on.
    func liveLabel(of id: String) throws -> Int64? {
        if catalog.idToLabel == nil {
            idLookups += 1
            if idLookups <= max(Self.idIndexThreshold, catalog.liveCount / 16) {
                guard let raw = try requireOpen().get(Family.records, Array(id.utf8)) else { return nil }
                let label = try raw.withUnsafeBytes { try RecordCodec.label($0) }
                guard catalog.isLive(label) else {
                    throw EngramError.corrupt("the record of \(id) names label \(label), which is not live (run `engram check`)")
                }
                return label
            }
            catalog.ensureIdIndex()
        }
        return catalog.idToLabel?[id]
    }

    /// A free label for a new memory (caller holds the writer lock), or nil: then a fresh one.
    /// None is handed out while a rebuild runs (it counts on the dead labels it started from
    /// staying dead). A snapshot running meanwhile never reads the rows of dead labels.
    func takeFreeLabel() -> Int64? {
        guard !rebuildRunning else { return nil }
        if deadLabelsAreFree {
            freeLabels = catalog.deadLabels()
            deadLabelsAreFree = false
        }
        return freeLabels.popLast()
    }

    /// Id lookups that read RocksDB before the id index is built (at least; see `liveLabel`).
    static let idIndexThreshold = 1024

    /// Inserts or replaces memories in one atomic write (see `StoreTransaction.upsert`). The
    /// memories are validated and their texts analysed before the writer lock is taken (on
    /// two threads for a large batch), so that writers hold it for the write alone.
    @discardableResult
    public func upsert(_ memories: [NewMemory], sync: Bool? = nil, now: Double? = nil) throws -> [String] {
        let prepared = try prepareForWrite(memories)
        return try write(sync: sync, now: now) { try $0.upsert(prepared) }
    }

    /// Validates and normalises `memories` and analyses their texts (see `analyse`), without
    /// the writer lock and on any thread, for `StoreTransaction.upsert(_:)` of
    /// `PreparedMemory`: a writer that prepares its next batch while the previous one is
    /// written holds the lock for the write alone. Throws what `upsert` would for a bad memory.
    public func prepareForWrite(_ memories: [NewMemory]) throws -> [PreparedMemory] {
        let prepared = try memories.map(prepare)
        let documents = try analyse(prepared.map(\.text))
        return zip(prepared, documents).map { PreparedMemory(memory: $0, document: $1, store: identity) }
    }

    /// The full-text documents of `texts` (analysed, terms counted), in order; split over two
    /// threads from `parallelAnalysisMinimum` texts on (a session each: stemmers are not
    /// thread-safe).
    func analyse(_ texts: [String]) throws -> [TextIndex.Document] {
        guard texts.count >= Self.parallelAnalysisMinimum else {
            return try analysis.withSession { session in texts.map(session.document) }
        }
        let half = texts.count / 2
        let parts = [0..<half, half..<texts.count]
        let results = Mutex<[[TextIndex.Document]]>([[], []])
        let failure = Mutex<Error?>(nil)
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            do {
                let documents = try analysis.withSession { session in texts[parts[i]].map(session.document) }
                results.withLock { $0[i] = documents }
            } catch {
                failure.withLock { $0 = error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return results.withLock { $0[0] + $0[1] }
    }

    /// Texts from which a batch is analysed on two threads.
    static let parallelAnalysisMinimum = 256

    /// Deletes memories by id in one atomic write. Unknown ids are an error (and nothing is
    /// deleted) unless `ignoreMissing`. Returns how many were deleted.
    @discardableResult
    public func delete(ids: [String], ignoreMissing: Bool = false) throws -> Int {
        try write { try $0.delete(ids: ids, ignoreMissing: ignoreMissing) }
    }

    /// Deletes every live memory matching `filter` (expired ones included), committed in
    /// slices of `deleteSliceSize` memories so that one batch stays bounded. Returns the count.
    @discardableResult
    public func delete(matching filter: MemoryFilter) throws -> Int {
        let catalog = currentView().catalog
        let ids = CompiledFilter(filter, catalog: catalog, now: -.infinity).matchingLabels(in: catalog)
            .compactMap { catalog.ids[Int($0)] }
        var deleted = 0
        for start in stride(from: 0, to: ids.count, by: Self.deleteSliceSize) {
            let slice = Array(ids[start..<min(start + Self.deleteSliceSize, ids.count)])
            deleted += try write { try $0.delete(ids: slice, ignoreMissing: true) }
        }
        return deleted
    }

    /// Writes the vectors of the labels a transaction creates to the vector file, durably
    /// (when `sync`) before the batch that makes them live is committed.
    private func writeVectors(of tx: StoreTransaction, sync: Bool) throws {
        var labels: [Int64] = []
        var rows: [Float] = []
        for case let .insert(memory, label) in tx.steps {
            labels.append(label)
            rows.append(contentsOf: memory.vector)
        }
        guard !labels.isEmpty else { return }
        guard let vectorFile else { throw EngramError.readOnly }
        do {
            try rows.withUnsafeBufferPointer { try vectorFile.write(labels: labels, vectors: $0) }
            if sync { try vectorFile.sync() }
        } catch let error as EngramError {
            if error.isStorageFailure { writeFailure = error }
            throw error
        }
    }

    /// Memories deleted per committed batch by `delete(matching:)`.
    static let deleteSliceSize = 50_000

    /// Commits a transaction's batch, then applies it to the in-memory state and the index.
    private func commitLocked(_ tx: StoreTransaction, db: RocksDB, sync: Bool) throws {
        let changed = tx.changeSeq != changeSeq
        try tx.text?.stage(seq: tx.changeSeq)
        var watermarks = consumers
        for (name, seq) in tx.watermarks { watermarks[name] = seq }
        if changed {
            tx.batch.put(Family.state, StateKey.nextLabel, Self.encodeU64(UInt64(tx.nextLabel)))
            tx.batch.put(Family.state, StateKey.changeSeq, Self.encodeU64(tx.changeSeq))
        }
        if let text = tx.text, text.stats != textStats { tx.batch.put(Family.state, TextIndex.StateKey.stats, text.stats.encoded()) }
        let trim = tx.watermarks.isEmpty ? trimmedThrough : trimLocked(tx.batch, watermarks: watermarks)
        guard tx.batch.count > 0 else { return }
        try writeVectors(of: tx, sync: sync)
        try commit(tx.batch, to: db, sync: sync)

        // Committed: bring the in-memory state up to date. From here on nothing may throw
        // as if the write had failed.
        nextLabel = tx.nextLabel
        changeSeq = tx.changeSeq
        consumers = watermarks
        trimmedThrough = trim
        if let text = tx.text {
            textStats = text.stats
            if let updated = text.threads { threads = updated }
            if let segment = text.segment {
                pendingText.append(segment)
                scheduleTextMergeLocked()
            }
        }
        guard changed else { return }
        catalog.reserveLabels(Int(tx.nextLabel))
        for step in tx.steps {
            switch step {
            case let .insert(memory, label): catalog.insert(memory, label: label)
            case let .remove(label): catalog.remove(label: label)
            }
        }
        catalog.sortPostings()
        var added: [Int64] = []
        var rows: [Float] = []
        for case let .insert(memory, label) in tx.steps where catalog.isLive(label) {
            added.append(label)
            rows.append(contentsOf: memory.vector)
        }
        catalog.indexInserted(added)
        applyToIndex(added: added, rows: rows, removed: tx.removedExisting)
    }

    /// Brings the index up to date after a committed batch (`rows` holds the vectors of
    /// `added`) and publishes the new state to readers. When the count calls for another
    /// index (flat → IVF, IVF retraining, a quantizer trained on far fewer memories) a
    /// rebuild starts in the background; every `snapshot_every` changes a snapshot does.
    ///
    /// The batch is already durable, so nothing here fails the write: if the index cannot
    /// take it, a rebuild is scheduled; the error is logged, and the next open replays the
    /// change log in any case.
    func applyToIndex(added: [Int64], rows: [Float], removed: [Int64]) {
        index.remove(labels: removed)
        do {
            try rows.withUnsafeBufferPointer { try index.add(labels: added, vectors: $0) }
            index.compactIfWorthwhile { catalog.isLive($0) }
        } catch {
            logger.error("the write is committed, but the index could not take it (\(error)); rebuilding it in the background")
            scheduleRebuildLocked()
        }
        publishLocked()
        if index.shouldGrow(liveCount: catalog.liveCount, codes: catalog.codes, quantizerTrainedOn: quantizerTrainedOn) {
            scheduleRebuildLocked(grownByWrites: true)
        }
        scheduleSnapshotLocked()
    }

    /// Sets `lastAccessedAt` of `labels` to `time`, with a `.touch` change-log entry each (so
    /// that an open from a snapshot sees it).
    func touchLocked(_ labels: [Int64], at time: Double) throws {
        guard !labels.isEmpty else { return }
        let db = try requireWritable()
        let batch = db.makeBatch()
        var seq = changeSeq
        var touched: [Int64] = []
        for label in labels {
            guard let id = catalog.ids[Int(label)], catalog.isLive(label),
                  let raw = try db.get(Family.records, Array(id.utf8)) else { continue }
            var (memory, stored) = try raw.withUnsafeBytes { try RecordCodec.decode($0) }
            guard stored == label else { continue }
            memory.vector = []
            memory.lastAccessedAt = time
            batch.put(Family.records, Array(id.utf8), RecordCodec.encode(memory, label: label))
            seq += 1
            batch.put(Family.changes, Keys.u64(seq), ChangeLog.encode(.touch, label: label, id: id))
            touched.append(label)
        }
        guard !touched.isEmpty else { return }
        batch.put(Family.state, StateKey.changeSeq, Self.encodeU64(seq))
        try commit(batch, to: db, sync: settings.sync)
        changeSeq = seq
        for label in touched { catalog.setAccessed(label: label, at: time) }
        publishLocked()
    }

    /// Validates a memory and normalises its vector to unit length.
    func prepare(_ input: NewMemory) throws -> NewMemory {
        var m = input
        let id = m.id ?? "(new)"
        if let given = m.id {
            guard !given.isEmpty else { throw EngramError.invalidArgument("memory id must not be empty") }
            guard given.utf8.count <= settings.maxIdBytes else {
                throw EngramError.invalidArgument("memory id is \(given.utf8.count) bytes; the limit is \(settings.maxIdBytes) (max_id_bytes)")
            }
        }
        guard !m.namespace.isEmpty, m.namespace.utf8.count <= 256 else {
            throw EngramError.invalidArgument("memory '\(id)': namespace must be 1 to 256 bytes")
        }
        guard m.text.utf8.count <= settings.maxTextBytes else {
            throw EngramError.invalidArgument("memory '\(id)': text is \(m.text.utf8.count) bytes; the limit is \(settings.maxTextBytes) (max_text_bytes)")
        }
        guard m.importance.isFinite, (0...1).contains(m.importance) else {
            throw EngramError.invalidArgument("memory '\(id)': importance must be between 0 and 1")
        }
        for (name, value) in [("time", m.time), ("expiresAt", m.expiresAt), ("validTo", m.validTo)] {
            if let value, !value.isFinite { throw EngramError.invalidArgument("memory '\(id)': \(name) is not a finite time") }
        }
        if m.tags.contains(where: \.isEmpty) { throw EngramError.invalidArgument("memory '\(id)': tags must not be empty") }
        m.tags = Array(Set(m.tags)).sorted()
        m.vector = try normalise(m.vector, id: id)
        return m
    }

    /// Checks dimension and finiteness, and scales to unit length.
    func normalise(_ vector: [Float], id: String) throws -> [Float] {
        guard vector.count == settings.dimension else {
            throw EngramError.wrongDimension(id: id, expected: settings.dimension, got: vector.count)
        }
        // A square of a finite Float is exact in Double and the sum of a vector's cannot
        // overflow, so the sum is finite exactly when every value is: one test after the loop
        // instead of one per value.
        let sum = vector.withUnsafeBufferPointer { v in
            var sum: Double = 0
            for x in v { sum += Double(x) * Double(x) }
            return sum
        }
        guard sum.isFinite else { throw EngramError.nonFiniteVector(id: id) }
        guard sum > 0 else { throw EngramError.zeroVector(id: id) }
        let scale = Float(1 / sum.squareRoot())
        return [Float](unsafeUninitializedCapacity: vector.count) { out, initialized in
            vector.withUnsafeBufferPointer { v in
                for j in 0..<v.count { out[j] = v[j] * scale }
            }
            initialized = vector.count
        }
    }

    /// A random 128-bit id in hex.
    static func generateId() -> String {
        var g = SystemRandomNumberGenerator()
        return String(format: "%016llx%016llx", g.next() as UInt64, g.next() as UInt64)
    }
}
