/// How an entity's outgoing edges change when its row changes, and how a neighbourhood is read.
public enum GraphUpdate {
    /// The edges to close and to open so that `entity`'s open edges of the `relations` named
    /// (nil: every relation) are exactly `targets` (relation, entity) from `time` on: an edge
    /// whose target is gone is closed at `time` (retracted at `recordedAt`); a new target gets an edge valid from `time`;
    /// an unchanged one stays as it is. After a delete, `targets` is empty: every such open
    /// edge closes. Edges of other relations (a row's links beside its text's mentions) are
    /// left alone.
    public static func changes(open current: [GraphEdge], entity: String, targets: [(relation: String, to: String)],
                               relations: Set<String>? = nil,
                               at time: Double, recordedAt: Double, memory: String) -> (close: [GraphEdge], open: [GraphEdge]) {
        let open = current.filter { edge in
            edge.from == entity && edge.validTo == nil && (relations?.contains(edge.relation) ?? true)
        }
        var close: [GraphEdge] = []
        for edge in open where !targets.contains(where: { $0.relation == edge.relation && $0.to == edge.to }) {
            var closed = edge
            closed.validTo = max(time, edge.validFrom)
            closed.retractedAt = recordedAt
            close.append(closed)
        }
        var added: [GraphEdge] = []
        for target in targets where !open.contains(where: { $0.relation == target.relation && $0.to == target.to }) {
            if added.contains(where: { $0.relation == target.relation && $0.to == target.to }) { continue }
            added.append(GraphEdge(from: entity, relation: target.relation, to: target.to, validFrom: time, recordedAt: recordedAt,
                                   memories: [memory]))
        }
        return (close, added)
    }

    /// The edges within `depth` hops of `entity` (either direction) that held at `asOf`,
    /// reading each entity's edges with `edges` (outgoing and incoming).
    public static func neighbourhood(of entity: String, depth: Int, asOf: Double,
                                     edges: (String) throws -> [GraphEdge]) rethrows -> Neighbourhood {
        var distance = [entity: 0]
        var found: [GraphEdge] = []
        var seen = Set<String>()
        var frontier = [entity]
        for hop in 1...max(1, depth) {
            var next: [String] = []
            for node in frontier {
                for edge in try edges(node) where edge.holds(at: asOf) {
                    let key = "\(edge.from)\u{0}\(edge.relation)\u{0}\(edge.to)\u{0}\(edge.validFrom)"
                    if seen.insert(key).inserted { found.append(edge) }
                    let other = edge.from == node ? edge.to : edge.from
                    if distance[other] == nil {
                        distance[other] = hop
                        next.append(other)
                    }
                }
            }
            frontier = next.sorted()
            if frontier.isEmpty { break }
        }
        found.sort { a, b in
            let da = min(distance[a.from] ?? .max, distance[a.to] ?? .max), db = min(distance[b.from] ?? .max, distance[b.to] ?? .max)
            return (da, a.from, a.relation, a.to, a.validFrom) < (db, b.from, b.relation, b.to, b.validFrom)
        }
        return Neighbourhood(entity: entity, asOf: asOf, edges: found, entities: distance)
    }

    /// A shortest chain of edges (either direction) from `start` to `goal` that held at
    /// `asOf`, at most `maxHops` long; nil when there is none. Ties go to the entity names in
    /// order, so the answer is the same every time.
    public static func path(from start: String, to goal: String, maxHops: Int, asOf: Double,
                            edges: (String) throws -> [GraphEdge]) rethrows -> [GraphEdge]? {
        if start == goal { return [] }
        var via: [String: GraphEdge] = [start: GraphEdge(from: start, relation: "", to: start, validFrom: 0, recordedAt: 0, memories: [])]
        var frontier = [start]
        for _ in 0..<maxHops {
            var next: [String] = []
            for node in frontier {
                for edge in try edges(node).sorted(by: { ($0.from, $0.to, $0.relation) < ($1.from, $1.to, $1.relation) })
                where edge.holds(at: asOf) {
                    let other = edge.from == node ? edge.to : edge.from
                    guard via[other] == nil else { continue }
                    via[other] = edge
                    if other == goal {
                        var chain: [GraphEdge] = []
                        var at = goal
                        while at != start, let step = via[at] {
                            chain.append(step)
                            at = step.from == at ? step.to : step.from
                        }
                        return chain.reversed()
                    }
                    next.append(other)
                }
            }
            frontier = next.sorted()
            if frontier.isEmpty { break }
        }
        return nil
    }
}
