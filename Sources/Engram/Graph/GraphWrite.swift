import EngramGraph
import Foundation

/// The graph side of one write: the edges a row's links or a text's mentions open and close,
/// staged in the same transaction as what caused them (so that an applied change and its
/// edges cannot be separated, and a change skipped as already seen touches no edge).
struct GraphWrite {
    let tx: StoreTransaction
    /// Open edges per entity as this write leaves them (raw puts are not read back).
    private var open: [String: [GraphEdge]] = [:]

    init(tx: StoreTransaction) { self.tx = tx }

    /// Makes `entity`'s open edges of the `relations` named (nil: all) exactly `targets` from
    /// `time` on, each supported by the memory `memory` (default: the entity itself).
    mutating func update(_ entity: String, targets: [(relation: String, to: String)], relations: Set<String>? = nil,
                         at time: Double, memory: String? = nil) throws {
        let current = try openEdges(entity)
        let (close, add) = GraphUpdate.changes(open: current, entity: entity, targets: targets, relations: relations, at: time,
                                               recordedAt: tx.now, memory: memory ?? entity)
        guard !close.isEmpty || !add.isEmpty else { return }
        for edge in close + add { try put(edge) }
        let still = current.filter { edge in !close.contains { $0.relation == edge.relation && $0.to == edge.to } } + add
        try setOpen(entity, still)
    }

    /// Changes the weight of the open `relation` edge between `a` and `b` (stored from the
    /// smaller key to the larger) by `delta`, for `memory`: an edge is opened at `time` when
    /// the weight becomes positive and closed at `time` when it falls to 0. The edge lists at
    /// most `maxSupport` supporting memories, the latest last.
    mutating func adjust(_ relation: String, between a: String, and b: String, by delta: Double, memory: String,
                         at time: Double, maxSupport: Int) throws {
        let (from, to) = a < b ? (a, b) : (b, a)
        var edges = try openEdges(from)
        if let i = edges.firstIndex(where: { $0.relation == relation && $0.to == to }) {
            var edge = edges[i]
            let weight = (edge.weight ?? 0) + delta
            edge.memories.removeAll { $0 == memory }
            if weight > 0 {
                if delta > 0 { edge.memories.append(memory) }
                if edge.memories.count > maxSupport { edge.memories.removeFirst(edge.memories.count - maxSupport) }
                edge.weight = weight
                edges[i] = edge
            } else {
                edge.weight = 0
                edge.validTo = max(time, edge.validFrom)
                edge.retractedAt = tx.now
                edges.remove(at: i)
            }
            try put(edge)
        } else if delta > 0 {
            let edge = GraphEdge(from: from, relation: relation, to: to, validFrom: time, recordedAt: tx.now, memories: [memory],
                                 weight: delta)
            edges.append(edge)
            try put(edge)
        } else {
            return
        }
        try setOpen(from, edges)
    }

    private func put(_ edge: GraphEdge) throws {
        let key = GraphKeys.edge(edge)
        try tx.put(GraphKeys.edges, key: key, value: Array(try JSONEncoder().encode(edge)))
        try tx.put(GraphKeys.incoming, key: GraphKeys.reverse(edge), value: key)
    }

    private mutating func setOpen(_ entity: String, _ edges: [GraphEdge]) throws {
        open[entity] = edges
        if edges.isEmpty {
            try tx.delete(GraphKeys.open, key: Array(entity.utf8))
        } else {
            try tx.put(GraphKeys.open, key: Array(entity.utf8), value: Array(try JSONEncoder().encode(edges)))
        }
    }

    private func openEdges(_ entity: String) throws -> [GraphEdge] {
        if let staged = open[entity] { return staged }
        guard let raw = try tx.get(GraphKeys.open, key: Array(entity.utf8)) else { return [] }
        return try JSONDecoder().decode([GraphEdge].self, from: Data(raw))
    }
}
