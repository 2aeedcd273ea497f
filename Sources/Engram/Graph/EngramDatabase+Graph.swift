import EngramGraph
import Foundation

extension EngramDatabase {
    /// The edges within `depth` hops of `entity` (either direction) that held at `asOf`
    /// (default now), and the entities they reach.
    /// - Throws: `EngramError` `.invalidArgument` for a depth outside 1…`maxGraphDepth`.
    public func graphNeighbourhood(of entity: String, depth: Int = 1, asOf: Timestamp? = nil) throws -> Neighbourhood {
        guard (1...Self.maxGraphDepth).contains(depth) else {
            throw EngramError.invalidArgument("depth must be between 1 and \(Self.maxGraphDepth)")
        }
        return try GraphUpdate.neighbourhood(of: entity, depth: depth, asOf: asOf?.seconds ?? Date().timeIntervalSince1970,
                                             edges: edges(of:))
    }

    /// A shortest chain of edges between two entities (either direction) that held at `asOf`
    /// (default now), at most `maxHops` long; nil when there is none.
    /// - Throws: `EngramError` `.invalidArgument` for `maxHops` outside 1…`maxGraphDepth`.
    public func graphPath(from start: String, to goal: String, maxHops: Int = 4, asOf: Timestamp? = nil) throws -> [GraphEdge]? {
        guard (1...Self.maxGraphDepth).contains(maxHops) else {
            throw EngramError.invalidArgument("the most hops must be between 1 and \(Self.maxGraphDepth)")
        }
        return try GraphUpdate.path(from: start, to: goal, maxHops: maxHops, asOf: asOf?.seconds ?? Date().timeIntervalSince1970,
                                    edges: edges(of:))
    }

    /// The edges that start or end at `entity`, in every time.
    func edges(of entity: String) throws -> [GraphEdge] {
        var edges: [GraphEdge] = []
        try store.scan(GraphKeys.edges, prefix: GraphKeys.prefix(entity)) { _, value in
            edges.append(try JSONDecoder().decode(GraphEdge.self, from: Data(value)))
            return true
        }
        var keys: [[UInt8]] = []
        try store.scan(GraphKeys.incoming, prefix: GraphKeys.prefix(entity)) { _, value in
            keys.append(value)
            return true
        }
        for key in keys {
            if let raw = try store.value(in: GraphKeys.edges, key: key) {
                edges.append(try JSONDecoder().decode(GraphEdge.self, from: Data(raw)))
            }
        }
        return edges
    }

    /// The most hops a graph query may take.
    public static let maxGraphDepth = 6

    /// Every edge, in key order (by source entity, relation, target, then valid-from).
    public func graphEdges() throws -> [GraphEdge] {
        var edges: [GraphEdge] = []
        try store.scan(GraphKeys.edges, prefix: []) { _, value in
            edges.append(try JSONDecoder().decode(GraphEdge.self, from: Data(value)))
            return true
        }
        return edges
    }

    /// How many edges there are, and how many are still open.
    public func graphStats() throws -> GraphStats {
        let edges = try graphEdges()
        return GraphStats(edges: edges.count, open: edges.filter { $0.validTo == nil }.count,
                          entities: Set(edges.flatMap { [$0.from, $0.to] }).count)
    }
}

/// Counts of the graph. JSON: `{"edges","open","entities"}`.
public struct GraphStats: Codable, Sendable, Equatable {
    public var edges: Int
    /// Edges that still hold.
    public var open: Int
    public var entities: Int
}
