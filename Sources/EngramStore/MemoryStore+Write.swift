import Foundation

extension MemoryStore {
    /// Inserts or replaces memories, atomically: either the whole batch is committed or none
    /// of it. Returns the ids in input order (generated where the input had none).
    ///
    /// A replaced memory keeps its `createdAt`. Within one batch, a later entry with the
    /// same id wins. The call returns only after the batch is durable (unless `sync` is
    /// false, or the database's `sync` setting is off).
    @discardableResult
    public func upsert(_ memories: [NewMemory], sync: Bool? = nil, now: Double? = nil) throws -> [String] {
        let now = now ?? Date().timeIntervalSince1970
        let prepared = try memories.map { try prepare($0) }
        return try locked {
            let db = try requireWritable()
            let batch = db.makeBatch()
            var label = nextLabel
            var seq = changeSeq
            var batchLabels: [String: (label: Int64, createdAt: Double)] = [:]
            var removed: [Int64] = []
            var inserted: [(Memory, Int64)] = []
            var ids: [String] = []
            for var input in prepared {
                let id = input.id ?? Self.generateId()
                let previous = batchLabels[id] ?? catalog.idToLabel[id].map { ($0, catalog.createdAt[Int($0)]) }
                if let previous {
                    seq += 1
                    batch.put(Family.changes, Keys.u64(seq), Self.change(.remove, previous.label))
                    removed.append(previous.label)
                }
                input.id = id
                let memory = Memory(id: id, namespace: input.namespace, text: input.text, vector: input.vector,
                                    tags: input.tags, meta: input.meta, time: input.time ?? now,
                                    createdAt: previous?.createdAt ?? now, updatedAt: now,
                                    expiresAt: input.expiresAt, validTo: input.validTo,
                                    importance: input.importance, lastAccessedAt: nil)
                batch.put(Family.records, Array(id.utf8), RecordCodec.encode(memory, label: label))
                seq += 1
                batch.put(Family.changes, Keys.u64(seq), Self.change(.add, label))
                batchLabels[id] = (label, memory.createdAt)
                inserted.append((memory, label))
                ids.append(id)
                label += 1
            }
            batch.put(Family.state, StateKey.nextLabel, Self.encodeU64(UInt64(label)))
            batch.put(Family.state, StateKey.changeSeq, Self.encodeU64(seq))
            try commit(batch, to: db, sync: sync ?? settings.sync)

            // Committed: bring the in-memory state up to date.
            nextLabel = label
            changeSeq = seq
            for l in removed { catalog.remove(label: l) }
            catalog.reserveLabels(Int(label))
            // An entry superseded by a later one for the same id in this batch never goes live.
            let superseded = Set(removed)
            let live = inserted.filter { !superseded.contains($0.1) }
            for (memory, l) in live { catalog.insert(memory, label: l) }
            let firstNewLabel = label - Int64(inserted.count)
            try applyToIndex(added: live.map(\.1), removed: removed.filter { $0 < firstNewLabel })
            return ids
        }
    }

    /// Deletes memories by id. Unknown ids are an error (and nothing is deleted) unless
    /// `ignoreMissing`. Returns how many were deleted.
    @discardableResult
    public func delete(ids: [String], ignoreMissing: Bool = false) throws -> Int {
        try locked {
            _ = try requireWritable()
            var labels: [(String, Int64)] = []
            for id in Set(ids) {
                if let label = catalog.idToLabel[id] { labels.append((id, label)) }
                else if !ignoreMissing { throw StoreError.notFound(id: id) }
            }
            try deleteLocked(labels)
            return labels.count
        }
    }

    /// Deletes every live memory matching `filter` (expired ones included). Returns the count.
    @discardableResult
    public func delete(matching filter: MemoryFilter) throws -> Int {
        try locked {
            _ = try requireWritable()
            let compiled = CompiledFilter(filter, catalog: catalog, now: -.infinity)
            let labels = compiled.matchingLabels(in: catalog).map { (catalog.ids[Int($0)]!, $0) }
            try deleteLocked(labels)
            return labels.count
        }
    }

    private func deleteLocked(_ labels: [(String, Int64)]) throws {
        guard !labels.isEmpty else { return }
        let db = try requireWritable()
        // Large deletes are committed in slices so one batch stays a bounded size.
        for slice in stride(from: 0, to: labels.count, by: 50_000) {
            let part = labels[slice..<min(slice + 50_000, labels.count)]
            let batch = db.makeBatch()
            var seq = changeSeq
            for (id, label) in part {
                batch.delete(Family.records, Array(id.utf8))
                seq += 1
                batch.put(Family.changes, Keys.u64(seq), Self.change(.remove, label))
            }
            batch.put(Family.state, StateKey.changeSeq, Self.encodeU64(seq))
            try commit(batch, to: db, sync: settings.sync)
            changeSeq = seq
            for (_, label) in part { catalog.remove(label: label) }
            try applyToIndex(added: [], removed: part.map(\.1))
        }
    }

    /// Brings the FAISS index up to date after a committed batch, growing it (flat → IVF,
    /// or IVF retraining) when the count calls for it, and snapshotting periodically.
    ///
    /// The batch is already durable: if the index fails to take it, the index is rebuilt
    /// from the catalog so that it never disagrees with RocksDB.
    func applyToIndex(added: [Int64], removed: [Int64]) throws {
        do {
            try index.remove(labels: removed)
            if index.shouldGrow(liveCount: catalog.liveCount) {
                index = try VectorIndex.build(settings: settings, catalog: catalog, logger: logger)
                try saveSnapshotLocked()
            } else {
                try index.add(labels: added, from: catalog)
            }
        } catch let error as StoreError {
            logger.error("index update failed (\(error)); rebuilding the index from the stored memories")
            index = try VectorIndex.build(settings: settings, catalog: catalog, logger: logger)
        }
        if changeSeq - snapshotSeq >= UInt64(settings.snapshotEvery) { try saveSnapshotLocked() }
    }

    /// Sets `lastAccessedAt` of `labels` to `time` (a write without a change-log entry: the
    /// vector does not change).
    func touchLocked(_ labels: [Int64], at time: Double) throws {
        guard !labels.isEmpty else { return }
        let db = try requireWritable()
        let batch = db.makeBatch()
        for label in labels {
            guard let id = catalog.ids[Int(label)], let raw = try db.get(Family.records, Array(id.utf8)) else { continue }
            var (memory, _) = try raw.withUnsafeBytes { try RecordCodec.decode($0) }
            memory.lastAccessedAt = time
            batch.put(Family.records, Array(id.utf8), RecordCodec.encode(memory, label: label))
        }
        try commit(batch, to: db, sync: settings.sync)
        for label in labels { catalog.setAccessed(label: label, at: time) }
    }

    /// Validates a memory and normalises its vector to unit length.
    func prepare(_ input: NewMemory) throws -> NewMemory {
        var m = input
        let id = m.id ?? "(new)"
        if let given = m.id {
            guard !given.isEmpty else { throw StoreError.invalidArgument("memory id must not be empty") }
            guard given.utf8.count <= settings.maxIdBytes else {
                throw StoreError.invalidArgument("memory id is \(given.utf8.count) bytes; the limit is \(settings.maxIdBytes) (max_id_bytes)")
            }
        }
        guard !m.namespace.isEmpty, m.namespace.utf8.count <= 256 else {
            throw StoreError.invalidArgument("memory '\(id)': namespace must be 1 to 256 bytes")
        }
        guard m.text.utf8.count <= settings.maxTextBytes else {
            throw StoreError.invalidArgument("memory '\(id)': text is \(m.text.utf8.count) bytes; the limit is \(settings.maxTextBytes) (max_text_bytes)")
        }
        guard m.importance.isFinite, (0...1).contains(m.importance) else {
            throw StoreError.invalidArgument("memory '\(id)': importance must be between 0 and 1")
        }
        for (name, value) in [("time", m.time), ("expiresAt", m.expiresAt), ("validTo", m.validTo)] {
            if let value, !value.isFinite { throw StoreError.invalidArgument("memory '\(id)': \(name) is not a finite time") }
        }
        if m.tags.contains(where: \.isEmpty) { throw StoreError.invalidArgument("memory '\(id)': tags must not be empty") }
        m.tags = Array(Set(m.tags)).sorted()
        m.vector = try normalise(m.vector, id: id)
        return m
    }

    /// Checks dimension and finiteness, and scales to unit length.
    func normalise(_ vector: [Float], id: String) throws -> [Float] {
        guard vector.count == settings.dimension else {
            throw StoreError.wrongDimension(id: id, expected: settings.dimension, got: vector.count)
        }
        var sum: Double = 0
        for x in vector {
            guard x.isFinite else { throw StoreError.nonFiniteVector(id: id) }
            sum += Double(x) * Double(x)
        }
        guard sum > 0, sum.isFinite else { throw StoreError.zeroVector(id: id) }
        let scale = Float(1 / sum.squareRoot())
        return vector.map { $0 * scale }
    }

    static func change(_ op: ChangeOp, _ label: Int64) -> [UInt8] {
        [op.rawValue] + withUnsafeBytes(of: UInt64(bitPattern: label).littleEndian) { Array($0) }
    }

    /// A random 128-bit id in hex.
    static func generateId() -> String {
        var g = SystemRandomNumberGenerator()
        return String(format: "%016llx%016llx", g.next() as UInt64, g.next() as UInt64)
    }
}
