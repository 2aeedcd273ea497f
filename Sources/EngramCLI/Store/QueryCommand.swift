import ArgumentParser
import Engram
import Foundation

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the memories that matter most for a text or a vector.",
        discussion: """
        score = w_sim·similarity + w_time·0.5^(age/half_life) + w_importance·importance, where \
        age = now − time (or now − last access with --decay access). Filters are exact, and the \
        top-k under the score is exact, not an over-fetch-and-hope re-rank. Weights and the \
        half-life default to the database's engram.toml.
        """)

    @OptionGroup var options: DatabaseOptions

    @Argument(help: "Query text (embedded with the built-in model), unless --vector / --vector-file is given.")
    var text: String?

    @OptionGroup var vectorOptions: VectorOptions

    @Option(help: "How many results (1 to \(QueryRequest.maxK)).")
    var k = 10

    @OptionGroup var filter: FilterOptions

    @Option(name: .customLong("half-life"), help: ArgumentHelp("Recency half-life, e.g. 90m, 12h, 30d.", valueName: "duration"))
    var halfLife: String?

    @Option(name: .customLong("w-sim"), help: "Weight of similarity.")
    var wSim: Double?

    @Option(name: .customLong("w-time"), help: "Weight of recency.")
    var wTime: Double?

    @Option(name: .customLong("w-importance"), help: "Weight of importance.")
    var wImportance: Double?

    @Option(help: "Decay from the event time (time) or the last access (access).")
    var decay: DecayBasis?

    @Option(help: ArgumentHelp("Measure ages and expiry from this moment (default: the clock), for reproducible results.", valueName: "time"))
    var now: String?

    @Flag(help: "Record the returned memories as accessed now (for --decay access).")
    var touch = false

    @Flag(name: .customLong("ids-only"), help: "Print ids and scores only (reads no records).")
    var idsOnly = false

    func validate() throws {
        if text == nil && vectorOptions.vector == nil && vectorOptions.vectorFile == nil {
            throw ValidationError("give a query text, or a vector with --vector / --vector-file")
        }
        if text != nil && (vectorOptions.vector != nil || vectorOptions.vectorFile != nil) {
            throw ValidationError("give a query text or a vector, not both")
        }
        guard (1...QueryRequest.maxK).contains(k) else { throw ValidationError("--k must be between 1 and \(QueryRequest.maxK)") }
        for (name, value) in [("--w-sim", wSim), ("--w-time", wTime), ("--w-importance", wImportance)] {
            if let value, !(value.isFinite && value >= 0) { throw ValidationError("\(name) must be a finite number ≥ 0") }
        }
    }

    func run() async throws {
        CLI.bootstrap
        let started = DispatchTime.now()
        let db = try options.open(readOnly: !touch)
        let scoring = ScoringRequest(wSim: wSim, wTime: wTime, wImportance: wImportance,
                                     halfLife: try halfLife.map { try Parse.duration($0, field: "--half-life") },
                                     decay: decay)
        let request = QueryRequest(text: text, vector: try vectorOptions.given(), k: k, filter: try filter.request(),
                                   scoring: scoring, now: try now.map { try Parse.time($0, field: "--now") },
                                   touch: touch, idsOnly: idsOnly)
        let response = try await db.query(request)
        if touch { try db.close() }
        if options.json {
            try CLI.printJSON(response)
            return
        }
        if response.results.isEmpty { print("no memories match") }
        for (i, r) in response.results.enumerated() {
            print(String(format: "%2d. %@  score %.4f  (sim %.4f, recency %.4f, importance %.2f)", i + 1, r.id,
                         r.score, r.similarity, r.recency, r.importance))
            guard let text = r.text else { continue }
            let tags = r.tags ?? []
            print("    [\(r.namespace ?? "")] \(r.time)\(tags.isEmpty ? "" : "  #" + tags.joined(separator: " #"))")
            let snippet = text.count > 100 ? String(text.prefix(99)) + "…" : text
            if !snippet.isEmpty { print("    \(snippet)") }
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
        CLI.printErr(String(format: "%d result%@ in %.2f ms (query), %.0f ms total", response.results.count,
                            response.results.count == 1 ? "" : "s", response.tookMs, total))
    }
}

extension DecayBasis: ExpressibleByArgument {}
