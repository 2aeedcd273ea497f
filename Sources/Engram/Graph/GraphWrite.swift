import EngramGraph
import Foundation

/// The graph side of one ingest write: the edges a row's links open and close, staged in the
/// same transaction as the row's memory (so that an applied change and its edges cannot be
/// separated, and a change skipped as already seen touches no edge).
struct GraphWrite {
    let tx: StoreTransaction
    /// Open edges per entity as this write leaves them (raw puts are not read back).
    private var open: [String: [GraphEdge]] = [:]

    init(tx: StoreTransaction) { self.tx = tx }

    /// Makes `entity`'s open edges exactly `targets` from `time` on.
    mutating func update(_ entity: String, targets: [(relation: String, to: String)], at time: Double) throws {
        let current = try openEdges(entity)
        let (close, add) = GraphUpdate.changes(open: current, entity: entity, targets: targets, at: time, recordedAt: tx.now,
                                               memory: entity)
        guard !close.isEmpty || !add.isEmpty else { return }
        for edge in close + add {
            let key = GraphKeys.edge(edge)
            try tx.put(GraphKeys.edges, key: key, value: Array(try JSONEncoder().encode(edge)))
            try tx.put(GraphKeys.incoming, key: GraphKeys.reverse(edge), value: key)
        }
        let still = current.filter { edge in !close.contains { $0.relation == edge.relation && $0.to == edge.to } } + add
        open[entity] = still
        if still.isEmpty {
            try tx.delete(GraphKeys.open, key: Array(entity.utf8))
        } else {
            try tx.put(GraphKeys.open, key: Array(entity.utf8), value: Array(try JSONEncoder().encode(still)))
        }
    }

    private func openEdges(_ entity: String) throws -> [GraphEdge] {
        if let staged = open[entity] { return staged }
        guard let raw = try tx.get(GraphKeys.open, key: Array(entity.utf8)) else { return [] }
        return try JSONDecoder().decode([GraphEdge].self, from: Data(raw))
    }
}
