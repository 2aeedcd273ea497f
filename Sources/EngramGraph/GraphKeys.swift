/// The keys of the graph's column families.
///
/// - `graph_edges`: `from ‖ 0 ‖ relation ‖ 0 ‖ to ‖ 0 ‖ validFrom` (8 bytes, the bits of the
///   double, big-endian: time order for non-negative times) → JSON `GraphEdge`.
/// - `graph_in`: `to ‖ 0 ‖ relation ‖ 0 ‖ from ‖ 0 ‖ validFrom` → the edge's `graph_edges` key,
///   so that an entity's incoming edges are a prefix scan too.
/// - `graph_open`: entity → JSON `[GraphEdge]`, its edges still open (what a change to its
///   row compares with, read with one lookup).
public enum GraphKeys {
    public static let edges = "graph_edges"
    public static let incoming = "graph_in"
    public static let open = "graph_open"
    public static let families = [edges, incoming, open]

    public static func edge(_ e: GraphEdge) -> [UInt8] { key(e.from, e.relation, e.to, e.validFrom) }

    public static func reverse(_ e: GraphEdge) -> [UInt8] { key(e.to, e.relation, e.from, e.validFrom) }

    /// The prefix of every key starting at `entity`.
    public static func prefix(_ entity: String) -> [UInt8] { Array(entity.utf8) + [0] }

    static func key(_ a: String, _ relation: String, _ b: String, _ time: Double) -> [UInt8] {
        Array(a.utf8) + [0] + Array(relation.utf8) + [0] + Array(b.utf8) + [0]
            + withUnsafeBytes(of: max(0, time).bitPattern.bigEndian) { Array($0) }
    }
}
