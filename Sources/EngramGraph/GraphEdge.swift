import Foundation

/// A typed relation between two entities, with when it held in the source (`validFrom` up to
/// `validTo`, open while nil) and when Engram learned it (`recordedAt`) and learned that it
/// stopped (`retractedAt`). Entities are keys
/// such as `faults:12` or `devices:7`; `memories` are the memories that support the edge.
///
/// Nothing is removed when a fact stops holding: the edge is closed (`validTo` set), so the
/// graph can be read as of any earlier time. A co-occurrence edge (`CO_OCCURS`) carries a
/// `weight`: how many memories mention both entities now.
public struct GraphEdge: Codable, Sendable, Equatable {
    public var from: String
    public var relation: String
    public var to: String
    /// Seconds since 1970.
    public var validFrom: Double
    public var validTo: Double?
    public var recordedAt: Double
    /// When Engram closed the edge (seconds since 1970); nil while it holds.
    public var retractedAt: Double?
    public var memories: [String]
    /// How strong the relation is (co-occurrence: the count of memories); nil for a plain fact.
    public var weight: Double?

    public init(from: String, relation: String, to: String, validFrom: Double, validTo: Double? = nil, recordedAt: Double,
                retractedAt: Double? = nil, memories: [String], weight: Double? = nil) {
        self.from = from
        self.relation = relation
        self.to = to
        self.validFrom = validFrom
        self.validTo = validTo
        self.recordedAt = recordedAt
        self.retractedAt = retractedAt
        self.memories = memories
        self.weight = weight
    }

    /// Whether the edge held at `time`.
    public func holds(at time: Double) -> Bool { validFrom <= time && time < (validTo ?? .infinity) }
}

/// How an entity's neighbourhood is read.
public struct Neighbourhood: Codable, Sendable, Equatable {
    /// The entity asked for.
    public var entity: String
    /// The moment the edges held.
    public var asOf: Double
    /// Edges within `depth` hops, either direction, as of `asOf`, by distance then key.
    public var edges: [GraphEdge]
    /// Each entity reached, with its distance in hops.
    public var entities: [String: Int]
}
