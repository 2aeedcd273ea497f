import EngramGraph

/// An entity's neighbourhood. JSON: `{"entity","depth"?,"asOf"?}` (depth 1…6, default 1;
/// `asOf` default now). The response is a `Neighbourhood`.
public struct GraphEntityRequest: Codable, Sendable, Equatable {
    public var entity: String
    public var depth: Int?
    public var asOf: Timestamp?
    public init(entity: String, depth: Int? = nil, asOf: Timestamp? = nil) {
        self.entity = entity
        self.depth = depth
        self.asOf = asOf
    }
}

/// A shortest chain of relations. JSON: `{"from","to","maxHops"?,"asOf"?}` (1…6, default 4).
public struct GraphPathRequest: Codable, Sendable, Equatable {
    public var from: String
    public var to: String
    public var maxHops: Int?
    public var asOf: Timestamp?
    public init(from: String, to: String, maxHops: Int? = nil, asOf: Timestamp? = nil) {
        self.from = from
        self.to = to
        self.maxHops = maxHops
        self.asOf = asOf
    }
}

/// The chain found, nil when none joins the two. JSON: `{"edges"?:[GraphEdge]}`.
public struct GraphPathResponse: Codable, Sendable, Equatable {
    public var edges: [GraphEdge]?
    public init(edges: [GraphEdge]?) { self.edges = edges }
}

/// `Graph/Purge`'s parameters: edges that stopped holding before `before` are removed for
/// good. JSON: `{"before"}`.
public struct GraphPurgeRequest: Codable, Sendable, Equatable {
    public var before: Timestamp
    public init(before: Timestamp) { self.before = before }
}

/// `Graph/Purge`'s answer. JSON: `{"removed"}`, the edges removed.
public struct GraphPurgeResponse: Codable, Sendable, Equatable {
    public var removed: Int
    public init(removed: Int) { self.removed = removed }
}
