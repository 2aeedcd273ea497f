import ArgumentParser
import Engram
import EngramServer
import Foundation

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the memories that matter most for a text or a vector.",
        discussion: """
        score = w_sim·similarity + w_time·0.5^(age/half_life) + w_importance·importance, where \
        age = now − time (or now − last access with --decay access). Filters are exact, and the \
        top-k under the score is exact, not an over-fetch-and-hope re-rank. Weights and the \
        half-life default to the database's engram.toml.

        similarity depends on --mode: vector is the cosine of the text's embedding; text is \
        BM25 over the full-text index (words, names, numbers, identifiers; nothing embedded); \
        hybrid (the default for a text, set by [text] mode) fuses the two lists of the \
        --candidates best, by normalised scores (minmax, zscore) or by ranks (rrf), with \
        --w-text the text list's share. --explain shows each result's place in both lists and \
        the BM25 contribution of each matched term.

        --graph-hops N lets the knowledge graph take part: the entities the text names \
        ([graph] names and patterns in engram.toml) are looked up in the graph, and the \
        memories linked to them within N hops (a fault row linked to a device, a note that \
        mentions it) join the candidates with w_graph·0.5^distance added to their similarity \
        ([graph] w_graph, 0.25).
        """)

    @OptionGroup var options: DatabaseOptions

    @Argument(help: "Query text: embedded with the built-in model (unless --vector / --vector-file gives its vector) and searched in the full-text index.")
    var text: String?

    @OptionGroup var vectorOptions: VectorOptions

    @Option(help: "Retrieval: vector, text or hybrid (default: the database's [text] mode for a text, vector for a vector alone).")
    var mode: RetrievalMode?

    @Option(help: "Fusion of the hybrid lists: minmax, zscore or rrf (default: [text] fusion).")
    var fusion: FusionMethod?

    @Option(name: .customLong("w-text"), help: "The text list's share of the fused relevance, 0 to 1 (default: [text] w_text).")
    var wText: Double?

    @Option(help: "Memories each list contributes to a fusion, 1 to 10000 (default: [text] candidates).")
    var candidates: Int?

    @Flag(help: "Show each result's rank and score in the vector and text lists, and each matched term's BM25 contribution.")
    var explain = false

    @Option(name: .customLong("graph-hops"), help: "Let memories the graph links to the text's entities, within this many hops (1 to 6), join the results.")
    var graphHops: Int?

    @Option(help: "How many results (1 to \(QueryRequest.maxK)).")
    var k = 10

    @OptionGroup var filter: FilterOptions

    @OptionGroup var scoring: ScoringOptions

    @Flag(help: "Record the returned memories as accessed now (for --decay access).")
    var touch = false

    @Flag(name: .customLong("ids-only"), help: "Print ids and scores only (reads no records).")
    var idsOnly = false

    func validate() throws {
        if text == nil && vectorOptions.vector == nil && vectorOptions.vectorFile == nil {
            throw ValidationError("give a query text, or a vector with --vector / --vector-file")
        }
        if (mode == .text || mode == .hybrid) && text == nil {
            throw ValidationError("--mode \(mode!.rawValue) needs a query text")
        }
        if let wText, !(wText.isFinite && (0...1).contains(wText)) { throw ValidationError("--w-text must be between 0 and 1") }
        if let candidates, !(1...10_000).contains(candidates) { throw ValidationError("--candidates must be between 1 and 10000") }
        guard (1...QueryRequest.maxK).contains(k) else { throw ValidationError("--k must be between 1 and \(QueryRequest.maxK)") }
        try Self.validateGraphHops(graphHops, text: text)
    }

    static func validateGraphHops(_ hops: Int?, text: String?) throws {
        guard let hops else { return }
        guard (1...EngramDatabase.maxGraphDepth).contains(hops) else {
            throw ValidationError("--graph-hops must be between 1 and \(EngramDatabase.maxGraphDepth)")
        }
        if text == nil { throw ValidationError("--graph-hops needs a query text: the graph is entered at the entities it names") }
    }

    func run() async throws {
        CLI.bootstrap
        let started = DispatchTime.now()
        let request = QueryRequest(text: text, vector: try vectorOptions.given(), k: k, filter: try filter.request(),
                                   scoring: try scoring.request(), now: try scoring.moment(),
                                   touch: touch, idsOnly: idsOnly, mode: mode,
                                   fusion: FusionRequest(method: fusion, wText: wText, candidates: candidates),
                                   explain: explain, graphHops: graphHops)
        let response = try await options.serve(.memoryQuery, request, readOnly: !touch) { try await $0.query(request) }
        if options.json {
            try CLI.printJSON(response)
            return
        }
        if response.results.isEmpty { print("no memories match") }
        for (i, r) in response.results.enumerated() {
            let relevance = response.mode == .vector ? "sim" : "relevance"
            print(String(format: "%2d. %@  score %.4f  (%@ %.4f, recency %.4f, importance %.2f)", i + 1, r.id,
                         r.score, relevance, r.similarity, r.recency, r.importance))
            if explain { print("    " + Self.explanation(r)) }
            guard let text = r.text else { continue }
            let tags = r.tags ?? []
            print("    [\(r.namespace ?? "")] \(r.time)\(tags.isEmpty ? "" : "  #" + tags.joined(separator: " #"))")
            let snippet = text.count > 100 ? String(text.prefix(99)) + "…" : text
            if !snippet.isEmpty { print("    \(snippet)") }
        }
        if explain {
            let entities = response.entities.map { "; entities: " + ($0.isEmpty ? "none" : $0.joined(separator: " ")) } ?? ""
            CLI.printErr("\(response.mode.rawValue) retrieval; terms: \((response.terms ?? []).joined(separator: " "))\(entities); plan: \(response.plan)")
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
        CLI.printErr(String(format: "%d result%@ in %.2f ms (query), %.0f ms total", response.results.count,
                            response.results.count == 1 ? "" : "s", response.tookMs, total))
    }

    /// `vector #3 cos 0.5123 · text #1 bm25 7.2100 [pump-7 3.1000 ×1, valv 4.1100 ×2]`.
    static func explanation(_ r: QueryHit) -> String {
        var parts: [String] = []
        if let sources = r.sources {
            parts.append(sources.vector.map { String(format: "vector #%d cos %.4f", $0.rank, $0.score) } ?? "vector –")
            parts.append(sources.text.map { String(format: "text #%d bm25 %.4f", $0.rank, $0.score) } ?? "text –")
        }
        if let boost = r.boost { parts.append(String(format: "boost %.2f", boost)) }
        if let graph = r.graph { parts.append(String(format: "graph +%.4f", graph)) }
        if let terms = r.terms, !terms.isEmpty {
            parts.append("[" + terms.map { String(format: "%@ %.4f ×%d", $0.term, $0.score, $0.tf) }.joined(separator: ", ") + "]")
        }
        return parts.isEmpty ? "(no lists: vector retrieval)" : parts.joined(separator: " · ")
    }
}

extension DecayBasis: ExpressibleByArgument {}
extension RetrievalMode: ExpressibleByArgument {}
extension FusionMethod: ExpressibleByArgument {}
