import EngramGraph
import Testing

@Suite("Graph updates and neighbourhoods")
struct GraphUpdateTests {
    static func edge(_ from: String, _ relation: String, _ to: String, _ validFrom: Double, _ validTo: Double? = nil) -> GraphEdge {
        GraphEdge(from: from, relation: relation, to: to, validFrom: validFrom, validTo: validTo, recordedAt: 0, memories: [from])
    }

    @Test("a changed target closes the old edge and opens a new one; an unchanged one stays; a delete closes all")
    func changes() {
        let open = [Self.edge("faults:1", "AFFECTS", "devices:1", 10), Self.edge("faults:1", "ON", "sites:3", 10)]
        let moved = GraphUpdate.changes(open: open, entity: "faults:1", targets: [("AFFECTS", "devices:2"), ("ON", "sites:3")],
                                        at: 20, recordedAt: 21, memory: "faults:1")
        var closed = Self.edge("faults:1", "AFFECTS", "devices:1", 10, 20)
        closed.retractedAt = 21
        #expect(moved.close == [closed])
        #expect(moved.open.map { "\($0.relation) \($0.to) \($0.validFrom) \($0.recordedAt)" } == ["AFFECTS devices:2 20.0 21.0"])
        let same = GraphUpdate.changes(open: open, entity: "faults:1", targets: [("ON", "sites:3"), ("AFFECTS", "devices:1")],
                                       at: 30, recordedAt: 31, memory: "faults:1")
        #expect(same.close.isEmpty && same.open.isEmpty)
        let deleted = GraphUpdate.changes(open: open, entity: "faults:1", targets: [], at: 40, recordedAt: 41, memory: "faults:1")
        #expect(deleted.close.map(\.validTo) == [40, 40] && deleted.open.isEmpty)
        // A change dated before the edge opened closes it where it opened, never before.
        #expect(GraphUpdate.changes(open: open, entity: "faults:1", targets: [], at: 5, recordedAt: 41, memory: "faults:1").close.map(\.validTo) == [10, 10])
    }

    @Test("a neighbourhood follows edges both ways, within the depth, as of a time")
    func neighbourhood() {
        let all = [Self.edge("faults:1", "AFFECTS", "devices:1", 10, 20), Self.edge("faults:1", "AFFECTS", "devices:2", 20),
                   Self.edge("repairs:1", "REPAIRS", "faults:1", 15), Self.edge("devices:2", "IN", "sites:9", 0)]
        func edges(_ node: String) -> [GraphEdge] { all.filter { $0.from == node || $0.to == node } }
        let early = GraphUpdate.neighbourhood(of: "devices:1", depth: 2, asOf: 16, edges: edges)
        #expect(early.entities == ["devices:1": 0, "faults:1": 1, "repairs:1": 2])
        #expect(early.edges.map(\.from) == ["faults:1", "repairs:1"])
        let late = GraphUpdate.neighbourhood(of: "faults:1", depth: 1, asOf: 25, edges: edges)
        #expect(Set(late.entities.keys) == ["faults:1", "devices:2", "repairs:1"])
        #expect(GraphUpdate.neighbourhood(of: "faults:1", depth: 2, asOf: 25, edges: edges).entities["sites:9"] == 2)
        #expect(Self.edge("a", "R", "b", 10, 20).holds(at: 10) && !Self.edge("a", "R", "b", 10, 20).holds(at: 20))
    }
}
