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
        try graphUpToDate()
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
        try graphUpToDate()
        return try GraphUpdate.path(from: start, to: goal, maxHops: maxHops, asOf: asOf?.seconds ?? Date().timeIntervalSince1970,
                                    edges: edges(of:))
    }

    /// The memories the graph links to the entities `text` mentions, within `hops` hops as of
    /// `asOf`, each with the term `[graph] w_graph · 0.5^distance` (distance: the hops from an
    /// entity of the text to the nearer end of an edge the memory supports, or to the memory
    /// itself as an entity), the nearest `[graph] max_linked`; and those entities.
    /// - Throws: `EngramError` `.invalidArgument` for hops outside 1…`maxGraphDepth`.
    func linkedMemories(mentionedIn text: String, hops: Int, asOf: Double) throws -> (entities: [String], linked: [String: Double]) {
        guard (1...Self.maxGraphDepth).contains(hops) else {
            throw EngramError.invalidArgument("graph hops must be between 1 and \(Self.maxGraphDepth)")
        }
        try graphUpToDate()
        let seeds = graphSettings.extractor.entities(in: text)
        guard graphSettings.wGraph > 0 else { return (seeds, [:]) }
        var distance: [String: Int] = [:]
        func reach(_ memory: String, _ d: Int) {
            if distance[memory].map({ d < $0 }) ?? true { distance[memory] = d }
        }
        for seed in seeds {
            let around = try GraphUpdate.neighbourhood(of: seed, depth: hops, asOf: asOf, edges: edges(of:))
            for (entity, d) in around.entities { reach(entity, d) }
            for edge in around.edges {
                let d = min(around.entities[edge.from] ?? .max, around.entities[edge.to] ?? .max)
                for memory in edge.memories { reach(memory, d) }
            }
        }
        let nearest = distance.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.prefix(graphSettings.maxLinked)
        return (seeds, Dictionary(uniqueKeysWithValues: nearest.map { ($0.key, graphSettings.wGraph * pow(0.5, Double($0.value))) }))
    }

    /// Brings the graph's mentions up to date with the memories (nothing to do read-only:
    /// queries then see the graph as the last writer left it).
    func graphUpToDate() throws {
        if !readOnly { try GraphMentions.follow(store, settings: graphSettings) }
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
        try graphUpToDate()
        var edges: [GraphEdge] = []
        try store.scan(GraphKeys.edges, prefix: []) { _, value in
            edges.append(try JSONDecoder().decode(GraphEdge.self, from: Data(value)))
            return true
        }
        return edges
    }

    /// Removes for good the edges that stopped holding before `time` (their `validTo`), and
    /// returns how many. Edges still open, or closed later, stay.
    /// - Throws: `EngramError.readOnly`.
    public func graphPurge(before time: Timestamp) throws -> Int {
        guard !readOnly else { throw EngramError.readOnly }
        var doomed: [GraphEdge] = []
        try store.scan(GraphKeys.edges, prefix: []) { _, value in
            let edge = try JSONDecoder().decode(GraphEdge.self, from: Data(value))
            if let end = edge.validTo, end < time.seconds { doomed.append(edge) }
            return true
        }
        for start in stride(from: 0, to: doomed.count, by: Self.purgeBatch) {
            try store.write { tx in
                for edge in doomed[start..<min(start + Self.purgeBatch, doomed.count)] {
                    try tx.delete(GraphKeys.edges, key: GraphKeys.edge(edge))
                    try tx.delete(GraphKeys.incoming, key: GraphKeys.reverse(edge))
                }
            }
        }
        return doomed.count
    }

    /// Edges removed per write by `graphPurge`.
    static let purgeBatch = 10_000

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
