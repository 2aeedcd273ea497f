import EngramBase
import Foundation

extension MemoryStore {
    /// The committed changes after `seq`, oldest first, at most `limit` of them. A consumer
    /// reads these, applies them to its derived state, and records its progress with
    /// `StoreTransaction.advanceWatermark` in the same transaction as that state.
    public func changes(after seq: UInt64, limit: Int = 10_000) throws -> [ChangeRecord] {
        guard limit > 0 else { throw EngramError.invalidArgument("limit must be positive") }
        let db = try currentView().requireOpen()
        do {
            var out: [ChangeRecord] = []
            try db.scan(Family.changes, from: Keys.u64(seq + 1)) { key, value in
                out.append(try ChangeLog.decode(seq: Keys.readU64(key), value))
                return out.count < limit
            }
            return out
        }
    }

    /// Where the registered consumer `name` stands; `notFound` for an unregistered name.
    public func consumerState(_ name: String) throws -> ConsumerState {
        try locked {
            guard let watermark = consumers[name] else {
                throw EngramError(.notFound, "'\(name)' is not a registered change-log consumer")
            }
            return ConsumerState(name: name, watermark: watermark, trimmedThrough: trimmedThrough)
        }
    }

    /// The sequence number of the last committed change.
    public var lastChange: UInt64 { locked { changeSeq } }

    /// The record stored under `id`, read from RocksDB, with its vector when `withVector`
    /// (else the vector is empty, or inline for a format-1 record). Writer side.
    func readRecord(_ id: String, withVector: Bool) throws -> Memory? {
        try readRecord(id, withVector: withVector, in: StoreView(db: try requireOpen(), snapshot: nil, catalog: catalog, index: index,
                                                                vectors: vectorSource, textStats: textStats,
                                                                textIndexCurrent: textIndexCurrent, pendingText: .empty,
                                                                threads: nil))
    }

    /// The record stored under `id` as `view` sees the database.
    func readRecord(_ id: String, withVector: Bool, in view: StoreView) throws -> Memory? {
        guard let raw = try view.requireOpen().get(Family.records, Array(id.utf8)) else { return nil }
        var (memory, label) = try raw.withUnsafeBytes { try RecordCodec.decode($0) }
        if withVector && memory.vector.isEmpty { memory.vector = try view.vectors.rows([label][...]) }
        return memory
    }
}

extension MemoryStore {
    /// The committed value under `key` in `family`, which a module registered when the
    /// database was opened (read without the writer lock; nil when absent).
    public func value(in family: String, key: [UInt8]) throws -> [UInt8]? {
        try checkRegistered(family)
        return try currentView().requireOpen().get(family, key)
    }

    /// Visits the committed keys of a registered `family` that start with `prefix`, in key
    /// order, until `body` returns false.
    public func scan(_ family: String, prefix: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        try checkRegistered(family)
        try currentView().requireOpen().scan(family, prefix: prefix) { key, value in try body(Array(key), Array(value)) }
    }

    /// Throws unless a module registered `family` (the store's own are not readable this way).
    func checkRegistered(_ family: String) throws {
        guard registeredFamilies.contains(family), !Family.owned.contains(family) else {
            throw EngramError.invalidArgument("column family '\(family)' was not registered when the database was opened")
        }
    }
}
