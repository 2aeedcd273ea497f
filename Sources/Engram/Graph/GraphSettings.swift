import EngramGraph
import Foundation

/// The `[graph]` section of `engram.toml`: the entities found in memory texts, and how
/// `--graph-hops` retrieval weighs the graph.
///
/// ```toml
/// [graph]
/// patterns = ["PUMP-(\\d+) -> devices:$1", "INC-\\d+ -> incident"]  # REGEX -> KEY-TEMPLATE or TYPE
/// max_mentions = 32    # entities taken from one text at most, 1…256
/// w_graph = 0.25       # weight of the graph proximity term in --graph-hops retrieval, 0…1
/// max_linked = 1000    # memories a --graph-hops query adds at most, 1…100000
///
/// [graph.names]        # name (whole words, any case) = entity key or type
/// "Pump 7" = "devices:7"
/// "Alice Smith" = "person"
/// ```
///
/// With neither names nor patterns, no text mentions anything (the graph holds the rows' links
/// only). A change to names or patterns makes the graph look at every memory's text again on
/// the next open for writing.
struct GraphSettings: Sendable {
    var names: [String: String] = [:]
    var patterns: [String] = []
    var maxMentions = 32
    var wGraph = 0.25
    var maxLinked = 1000
    let extractor: MentionExtractor

    static let section = "graph"
    static let mostMentions = 256
    static let mostLinked = 100_000

    init(_ document: SettingsDocument) throws {
        var s = try document.section(Self.section)
        names = try s.stringTable("names")
        patterns = try s.strings("patterns", default: [])
        maxMentions = try s.integer("max_mentions", default: maxMentions)
        wGraph = try s.number("w_graph", default: wGraph)
        maxLinked = try s.integer("max_linked", default: maxLinked)
        try s.rejectUnknownKeys()
        func bad(_ message: String) -> EngramError {
            EngramError(.invalidArgument, "engram.toml: [graph] \(message)", reason: .invalidSettings)
        }
        guard (1...Self.mostMentions).contains(maxMentions) else { throw bad("max_mentions must be between 1 and \(Self.mostMentions)") }
        guard wGraph.isFinite, (0...1).contains(wGraph) else { throw bad("w_graph must be between 0 and 1") }
        guard (1...Self.mostLinked).contains(maxLinked) else { throw bad("max_linked must be between 1 and \(Self.mostLinked)") }
        do {
            extractor = try MentionExtractor(names: names, patterns: patterns, limit: maxMentions)
        } catch let error as MentionExtractor.Invalid {
            throw bad(error.message)
        }
    }

    /// What the mentions found depend on: a change makes every text be looked at again.
    var fingerprint: String {
        let names = self.names.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return (names + ["--"] + patterns + ["--", String(maxMentions)]).joined(separator: "\u{1F}")
    }
}
