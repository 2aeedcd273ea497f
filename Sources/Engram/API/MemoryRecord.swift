import EngramStore
import Foundation

/// A stored memory as the API returns it (`get`, `export`).
///
/// JSON: `{"id","namespace","text","tags","meta","time","createdAt","updatedAt","importance"}`
/// plus `expiresAt`, `validTo`, `lastAccessedAt` when set, `vector` when asked for, and (from
/// `get`) `importanceHistory`, the changes feedback made to the importance, oldest first.
/// `export` writes one per line; `import` reads them back (see `MemoryInput`).
public struct MemoryRecord: Codable, Sendable, Equatable {
    public var id: String
    public var namespace: String
    public var text: String
    public var tags: [String]
    public var meta: [String: JSONValue]
    public var time: Timestamp
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var expiresAt: Timestamp?
    public var validTo: Timestamp?
    public var importance: Double
    public var lastAccessedAt: Timestamp?
    /// The stored (unit-length) vector; nil unless requested.
    public var vector: [Float]?
    /// The importance changes feedback made, oldest first (`get` only; nil when none).
    public var importanceHistory: [ImportanceAdjustment]?

    public init(_ m: Memory, includeVector: Bool) {
        id = m.id
        namespace = m.namespace
        text = m.text
        tags = m.tags
        meta = m.meta
        time = Timestamp(m.time)
        createdAt = Timestamp(m.createdAt)
        updatedAt = Timestamp(m.updatedAt)
        expiresAt = m.expiresAt.map(Timestamp.init)
        validTo = m.validTo.map(Timestamp.init)
        importance = m.importance
        lastAccessedAt = m.lastAccessedAt.map(Timestamp.init)
        vector = includeVector ? m.vector : nil
    }
}

/// A memory to write (`upsert`; one line of an `import` file).
///
/// JSON: `{"id"?, "text"?, "vector"?, "namespace"?, "tags"?, "meta"?, "time"?, "expiresAt"?,
/// "validTo"?, "importance"?}`. Without `vector`, `text` is embedded; without `id` a random
/// one is generated; without `time`, the time of the write.
public struct MemoryInput: Codable, Sendable, Equatable {
    public var id: String?
    public var text: String?
    public var vector: [Float]?
    public var namespace: String?
    public var tags: [String]?
    public var meta: [String: JSONValue]?
    public var time: Timestamp?
    public var expiresAt: Timestamp?
    public var validTo: Timestamp?
    public var importance: Double?

    public init(id: String? = nil, text: String? = nil, vector: [Float]? = nil, namespace: String? = nil,
                tags: [String]? = nil, meta: [String: JSONValue]? = nil, time: Timestamp? = nil,
                expiresAt: Timestamp? = nil, validTo: Timestamp? = nil, importance: Double? = nil) {
        self.id = id
        self.text = text
        self.vector = vector
        self.namespace = namespace
        self.tags = tags
        self.meta = meta
        self.time = time
        self.expiresAt = expiresAt
        self.validTo = validTo
        self.importance = importance
    }

    /// The store's form; an empty `vector` means "embed the text".
    public func newMemory(defaultNamespace: String = MemoryStore.defaultNamespace) -> NewMemory {
        NewMemory(id: id, namespace: namespace ?? defaultNamespace, text: text ?? "", vector: vector ?? [],
                  tags: tags ?? [], meta: meta ?? [:], time: time?.seconds, expiresAt: expiresAt?.seconds,
                  validTo: validTo?.seconds, importance: importance ?? 0)
    }
}
