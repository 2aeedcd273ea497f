import Foundation

/// One stored memory: a vector plus the text and metadata it stands for.
///
/// Times are seconds since the Unix epoch (UTC).
public struct Memory: Sendable, Equatable {
    /// Caller-given (or generated) identifier, unique in the database.
    public var id: String
    public var namespace: String
    public var text: String
    /// The vector as stored: L2-normalised, of the database's dimension.
    public var vector: [Float]
    public var tags: [String]
    public var meta: [String: JSONValue]
    /// Event time: when what the memory describes happened.
    public var time: Double
    public var createdAt: Double
    public var updatedAt: Double
    /// After this moment the memory is no longer returned by queries.
    public var expiresAt: Double?
    /// End of the memory's validity (a fact superseded at that time).
    public var validTo: Double?
    /// 0…1, used by the `w_importance` scoring term.
    public var importance: Double
    /// Last time a query that asked to touch its results returned this memory.
    public var lastAccessedAt: Double?

    public init(id: String, namespace: String, text: String, vector: [Float], tags: [String],
                meta: [String: JSONValue], time: Double, createdAt: Double, updatedAt: Double,
                expiresAt: Double?, validTo: Double?, importance: Double, lastAccessedAt: Double?) {
        self.id = id
        self.namespace = namespace
        self.text = text
        self.vector = vector
        self.tags = tags
        self.meta = meta
        self.time = time
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.expiresAt = expiresAt
        self.validTo = validTo
        self.importance = importance
        self.lastAccessedAt = lastAccessedAt
    }

    /// The first moment at which the memory stops being in force (expiry or end of validity).
    var endOfLife: Double { min(expiresAt ?? .infinity, validTo ?? .infinity) }
}

/// What a caller writes: everything optional except the vector.
public struct NewMemory: Sendable, Equatable {
    /// nil: a new random id is generated.
    public var id: String?
    public var namespace: String
    public var text: String
    public var vector: [Float]
    public var tags: [String]
    public var meta: [String: JSONValue]
    /// nil: now.
    public var time: Double?
    public var expiresAt: Double?
    public var validTo: Double?
    public var importance: Double
    /// Carried over by a rewrite of a stored memory (`init(rewriting:)`); nil for new ones.
    public var lastAccessedAt: Double?

    /// A stored memory as a write that replaces it with itself: change a field, then upsert.
    public init(rewriting m: Memory) {
        self.init(id: m.id, namespace: m.namespace, text: m.text, vector: m.vector, tags: m.tags, meta: m.meta,
                  time: m.time, expiresAt: m.expiresAt, validTo: m.validTo, importance: m.importance)
        lastAccessedAt = m.lastAccessedAt
    }

    public init(id: String? = nil, namespace: String = MemoryStore.defaultNamespace, text: String = "",
                vector: [Float], tags: [String] = [], meta: [String: JSONValue] = [:], time: Double? = nil,
                expiresAt: Double? = nil, validTo: Double? = nil, importance: Double = 0) {
        self.id = id
        self.namespace = namespace
        self.text = text
        self.vector = vector
        self.tags = tags
        self.meta = meta
        self.time = time
        self.expiresAt = expiresAt
        self.validTo = validTo
        self.importance = importance
    }
}

/// A memory ready for `StoreTransaction.upsert(_:)`: validated and normalised, its text
/// analysed for the full-text index (`MemoryStore.prepareForWrite`), by one store.
public struct PreparedMemory: Sendable {
    /// The memory as it will be written (tags sorted, vector at unit length).
    public let memory: NewMemory
    /// Its own text's document for the full-text index.
    let document: TextIndex.Document
    let store: UUID
}
