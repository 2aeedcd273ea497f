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

    @Option(help: "How many results.")
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
    var decay: String?

    @Option(help: ArgumentHelp("Measure ages and expiry from this moment (default: the clock), for reproducible results.", valueName: "time"))
    var now: String?

    @Flag(help: "Record the returned memories as accessed now (for --decay access).")
    var touch = false

    func validate() throws {
        if text == nil && vectorOptions.vector == nil && vectorOptions.vectorFile == nil {
            throw ValidationError("give a query text, or a vector with --vector / --vector-file")
        }
        if decay != nil && DecayBasis(rawValue: decay!) == nil { throw ValidationError("--decay must be time or access") }
    }

    func run() async throws {
        CLI.bootstrap
        let started = DispatchTime.now()
        let db = try options.open(readOnly: !touch)
        let vector: [Float]
        if let given = try vectorOptions.given() { vector = given } else { vector = try await db.embedQuery(text!) }
        let scoring = ScoringOptions(wSim: wSim, wTime: wTime, wImportance: wImportance,
                                     halfLife: try halfLife.map { try Parse.duration($0, field: "--half-life") },
                                     decay: decay.flatMap(DecayBasis.init(rawValue:)))
        let query = MemoryQuery(vector: vector, k: k, filter: try filter.filter(), scoring: scoring,
                                now: try now.map { try Parse.time($0, field: "--now") }, touch: touch)
        let queryStart = DispatchTime.now()
        let result = try db.store.query(query)
        let tookMs = Double(DispatchTime.now().uptimeNanoseconds - queryStart.uptimeNanoseconds) / 1e6
        if touch { try db.close() }
        if options.json {
            CLI.printJSON([
                "results": result.results.map { r -> [String: Any] in
                    ["id": r.memory.id, "score": r.score, "similarity": r.similarity, "recency": r.recency,
                     "importance": r.importance, "text": r.memory.text, "namespace": r.memory.namespace,
                     "tags": r.memory.tags, "meta": r.memory.meta.mapValues(\.anyValue), "time": Parse.isoString(r.memory.time)]
                },
                "tookMs": tookMs, "plan": result.plan,
            ])
            return
        }
        if result.results.isEmpty { print("no memories match") }
        for (i, r) in result.results.enumerated() {
            let snippet = r.memory.text.count > 100 ? String(r.memory.text.prefix(99)) + "…" : r.memory.text
            print(String(format: "%2d. %@  score %.4f  (sim %.4f, recency %.4f, importance %.2f)", i + 1, r.memory.id,
                         r.score, r.similarity, r.recency, r.importance))
            print("    [\(r.memory.namespace)] \(Parse.isoString(r.memory.time))\(r.memory.tags.isEmpty ? "" : "  #" + r.memory.tags.joined(separator: " #"))")
            if !snippet.isEmpty { print("    \(snippet)") }
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
        CLI.printErr(String(format: "%d result%@ in %.2f ms (query), %.0f ms total", result.results.count,
                            result.results.count == 1 ? "" : "s", tookMs, total))
    }
}
