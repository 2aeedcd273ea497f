import EngramBase
import Foundation

/// One atomic write across column families, open only inside `MemoryStore.write`.
///
/// Everything staged here (memory upserts and deletes, raw puts to registered column
/// families, consumer watermarks) is committed as one RocksDB `WriteBatch`: after a crash
/// either all of it is there or none of it. Reads (`get`, `memory`) see the committed
/// state plus what this transaction staged for memories; raw puts are not read back.
///
/// Not thread-safe, and not to be kept after the closure returns.
public final class StoreTransaction {
    /// A memory change, in the order staged; applied to the in-memory state after commit.
    enum Step {
        case insert(Memory, label: Int64)
        case remove(label: Int64)
    }

    unowned let store: MemoryStore
    let batch: WriteBatch
    /// The moment of this write (`updatedAt` of what it writes).
    public let now: Double
    private(set) var steps: [Step] = []
    /// Id → its label as staged by this transaction (nil: deleted here).
    private var staged: [String: (label: Int64, createdAt: Double)?] = [:]
    private(set) var nextLabel: Int64
    private(set) var changeSeq: UInt64
    private(set) var watermarks: [String: UInt64] = [:]
    /// Labels that were live before this transaction and are removed by it.
    private(set) var removedExisting: [Int64] = []
    /// Free labels this transaction took for new memories (returned if it is abandoned).
    private(set) var reusedLabels: [Int64] = []
    /// The full-text side of this transaction (created by its first text change).
    private(set) var text: TextWrite?

    init(store: MemoryStore, batch: WriteBatch, now: Double) {
        self.store = store
        self.batch = batch
        self.now = now
        nextLabel = store.nextLabel
        changeSeq = store.changeSeq
    }

    /// The current label and creation time of `id`, counting what this transaction staged.
    private func current(_ id: String) throws -> (label: Int64, createdAt: Double)? {
        if let entry = staged[id] { return entry }
        guard let label = try store.liveLabel(of: id) else { return nil }
        return (label, store.catalog.createdAt[Int(label)])
    }

    private func logChange(_ kind: ChangeKind, label: Int64, id: String) {
        changeSeq += 1
        batch.put(MemoryStore.Family.changes, Keys.u64(changeSeq), ChangeLog.encode(kind, label: label, id: id))
    }

    private func retire(_ id: String, label: Int64) throws {
        try textWrite().retire(label)
        logChange(.delete, label: label, id: id)
        steps.append(.remove(label: label))
        if store.catalog.isLive(label) { removedExisting.append(label) }
    }

    /// Inserts or replaces memories (validated and normalised first: a bad memory throws
    /// and the whole transaction is abandoned). Returns the ids in input order, generated
    /// where the input had none. A replaced memory keeps its `createdAt`; within one
    /// transaction a later write of the same id wins.
    @discardableResult
    public func upsert(_ memories: [NewMemory]) throws -> [String] {
        try upsert(memories.map { try store.prepare($0) }, documents: nil)
    }

    /// `upsert` of memories that `MemoryStore.prepareForWrite` of this transaction's store
    /// validated, normalised and analysed (those of another store are prepared again).
    @discardableResult
    public func upsert(_ prepared: [PreparedMemory]) throws -> [String] {
        guard prepared.allSatisfy({ $0.store == store.identity }) else {
            return try upsert(prepared.map(\.memory))
        }
        return try upsert(prepared.map(\.memory), documents: prepared.map(\.document))
    }

    /// `upsert` of memories already `prepare`d, with the full-text documents of their texts
    /// when given (analysed before the writer lock was taken).
    func upsert(_ prepared: [NewMemory], documents: [TextIndex.Document]?) throws -> [String] {
        var ids: [String] = []
        ids.reserveCapacity(prepared.count)
        for (n, input) in prepared.enumerated() {
            let id = input.id ?? MemoryStore.generateId()
            let previous = try current(id)
            if let previous { try retire(id, label: previous.label) }
            let label: Int64
            if let free = store.takeFreeLabel() {
                label = free
                reusedLabels.append(free)
            } else {
                label = nextLabel
                nextLabel += 1
            }
            let memory = Memory(id: id, namespace: input.namespace, text: input.text, vector: input.vector,
                                tags: input.tags, meta: input.meta, time: input.time ?? now,
                                createdAt: previous?.createdAt ?? now, updatedAt: now,
                                expiresAt: input.expiresAt, validTo: input.validTo,
                                importance: input.importance, lastAccessedAt: input.lastAccessedAt)
            batch.put(MemoryStore.Family.records, Array(id.utf8), RecordCodec.encode(memory, label: label))
            try textWrite().insert(memory, label: label, document: documents?[n])
            logChange(.upsert, label: label, id: id)
            steps.append(.insert(memory, label: label))
            staged[id] = (label, memory.createdAt)
            ids.append(id)
        }
        return ids
    }

    /// Deletes memories by id. An unknown id throws `notFound` (abandoning the transaction)
    /// unless `ignoreMissing`. Returns how many were deleted.
    @discardableResult
    public func delete(ids: [String], ignoreMissing: Bool = false) throws -> Int {
        var count = 0
        var seen = Set<String>()
        for id in ids where seen.insert(id).inserted {
            guard let entry = try current(id) else {
                if ignoreMissing { continue }
                throw EngramError.notFound(id: id)
            }
            batch.delete(MemoryStore.Family.records, Array(id.utf8))
            try retire(id, label: entry.label)
            staged[id] = .some(nil)
            count += 1
        }
        return count
    }

    private func textWrite() throws -> TextWrite {
        if let text { return text }
        let write = TextWrite(store: store, db: try store.requireOpen(), batch: batch, stats: store.textStats)
        text = write
        return write
    }

    /// The memory `id` as this transaction would leave it (nil if absent or deleted here).
    public func memory(_ id: String) throws -> Memory? {
        if let entry = staged[id] {
            guard let entry else { return nil }
            for case let .insert(memory, label) in steps.reversed() where label == entry.label { return memory }
        }
        return try store.readRecord(id, withVector: true)
    }

    /// Stages a put into `family`, which a module registered when the database was opened.
    public func put(_ family: String, key: [UInt8], value: [UInt8]) throws {
        try checkFamily(family)
        batch.put(family, key, value)
    }

    /// Stages a delete from a registered `family`.
    public func delete(_ family: String, key: [UInt8]) throws {
        try checkFamily(family)
        batch.delete(family, key)
    }

    /// Stages a delete of every key in `[start, end)` of a registered `family`.
    public func deleteRange(_ family: String, from start: [UInt8], to end: [UInt8]) throws {
        try checkFamily(family)
        batch.deleteRange(family, from: start, to: end)
    }

    /// The committed value under `key` in a registered `family` (puts staged here are not
    /// visible).
    public func get(_ family: String, key: [UInt8]) throws -> [UInt8]? {
        try checkFamily(family)
        return try store.requireOpen().get(family, key)
    }

    /// The committed values under `keys` in a registered `family`, in the order of `keys`,
    /// read in one batched lookup (cheaper than a `get` each; staged puts are not visible).
    public func get(_ family: String, keys: [[UInt8]]) throws -> [[UInt8]?] {
        try checkFamily(family)
        // The batched lookup takes its keys in RocksDB's (bytewise) order.
        let order = keys.indices.sorted { keys[$0].lexicographicallyPrecedes(keys[$1]) }
        var values = [[UInt8]?](repeating: nil, count: keys.count)
        try store.requireOpen().multiGet(family, order.map { keys[$0] }) { i, value in
            values[order[i]] = value.map { Array($0) }
        }
        return values
    }

    /// Records that `consumer` has durably applied every change up to `seq`, atomically with
    /// whatever else this transaction writes (typically the consumer's own derived state).
    public func advanceWatermark(_ consumer: String, to seq: UInt64) throws {
        guard store.consumers[consumer] != nil else {
            throw EngramError.invalidArgument("'\(consumer)' is not a registered change-log consumer")
        }
        guard seq <= changeSeq else {
            throw EngramError.invalidArgument("watermark \(seq) of '\(consumer)' is beyond the last change (\(changeSeq))")
        }
        watermarks[consumer] = seq
        batch.put(MemoryStore.Family.state, ChangeLog.watermarkKey(consumer), MemoryStore.encodeU64(seq))
    }

    /// The last sequence number of the change log, counting what this transaction staged.
    public var lastChange: UInt64 { changeSeq }

    private func checkFamily(_ family: String) throws {
        guard !MemoryStore.Family.owned.contains(family) else {
            throw EngramError.invalidArgument("column family '\(family)' belongs to the memory store; use upsert and delete")
        }
        try store.checkRegistered(family)
    }
}
