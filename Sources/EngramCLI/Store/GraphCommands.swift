import ArgumentParser
import Engram
import EngramServer
import Foundation

/// `--as-of` of the graph commands: the edges that held at a time.
struct AsOfOption: ParsableArguments {
    @Option(name: .customLong("as-of"), help: ArgumentHelp("The edges that held at this time (default: now).", valueName: "time"))
    var asOf: String?

    func time() throws -> Timestamp? { try asOf.map { try Parse.time($0, field: "--as-of") } }
}

struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The knowledge graph that change logs build: entities and their relations in time.",
        discussion: """
            Edges come from the links of [ingest.tables.NAME] (`links = ["device_id -> devices \
            AFFECTS"]`): each row's entity (its memory id, `faults:12`) points at the entity its \
            column names (`devices:7`) while the row holds that value. An update that changes \
            the value closes the old edge and opens a new one; a delete closes the row's edges. \
            Nothing is removed (until `engram graph purge`): the graph can be read as of any time.

            Texts add more: each memory gets a MENTIONS edge to every entity its text names \
            ([graph] names and patterns in engram.toml), and two entities named by the same \
            memory share a CO_OCCURS edge weighted by how many memories name both.
            """,
        subcommands: [Entity.self, Path.self, Stats.self, Export.self, Purge.self])

    struct Entity: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An entity's neighbourhood: the edges within --depth hops, as of a time.")

        @OptionGroup var options: DatabaseOptions

        @Argument(help: "The entity, e.g. devices:7 or faults:12.")
        var entity: String

        @Option(help: "Hops to follow, either direction (1…\(EngramDatabase.maxGraphDepth)).")
        var depth = 1

        @OptionGroup var moment: AsOfOption

        func validate() throws {
            guard (1...EngramDatabase.maxGraphDepth).contains(depth) else {
                throw ValidationError("--depth must be between 1 and \(EngramDatabase.maxGraphDepth)")
            }
        }

        func run() throws {
            CLI.bootstrap
            let db = try options.open(readOnly: true)
            let result = try db.graphNeighbourhood(of: entity, depth: depth, asOf: try moment.time())
            if options.json {
                try CLI.printJSON(result)
                return
            }
            if result.edges.isEmpty { print("\(entity): no edges as of \(Timestamp(result.asOf))") }
            for e in result.edges {
                let until = e.validTo.map { "until \(Timestamp($0))" } ?? "still"
                print("\(e.from) -\(e.relation)-> \(e.to)   from \(Timestamp(e.validFrom)) \(until)")
            }
        }
    }

    struct Path: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A shortest chain of relations between two entities, as of a time.")

        @OptionGroup var options: DatabaseOptions

        @Argument(help: "Where the chain starts, e.g. devices:7.")
        var from: String

        @Argument(help: "Where it ends, e.g. repairs:3.")
        var to: String

        @Option(name: .customLong("max-hops"), help: "The longest chain looked for (1…\(EngramDatabase.maxGraphDepth)).")
        var maxHops = 4

        @OptionGroup var moment: AsOfOption

        func validate() throws {
            guard (1...EngramDatabase.maxGraphDepth).contains(maxHops) else {
                throw ValidationError("--max-hops must be between 1 and \(EngramDatabase.maxGraphDepth)")
            }
        }

        func run() throws {
            CLI.bootstrap
            let db = try options.open(readOnly: true)
            let path = try db.graphPath(from: from, to: to, maxHops: maxHops, asOf: try moment.time())
            if options.json {
                try CLI.printJSON(path ?? [])
                return
            }
            guard let path else { throw CLIError("no chain of at most \(maxHops) relations joins \(from) and \(to)") }
            for e in path { print("\(e.from) -\(e.relation)-> \(e.to)") }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the edges: JSON lines or GraphML (every edge with its validity), or Graphviz dot (the edges that hold as of --as-of).")

        enum Format: String, ExpressibleByArgument, CaseIterable { case json, graphml, dot }

        @OptionGroup var options: DatabaseOptions

        @Option(help: "json: one edge per line with its validity; graphml: a GraphML document, validity and weights as edge data (only the edges holding at --as-of when it is given); dot: a Graphviz digraph.")
        var format: Format = .json

        @OptionGroup var moment: AsOfOption

        func run() throws {
            CLI.bootstrap
            let edges = try options.open(readOnly: true).graphEdges()
            switch format {
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for edge in edges { print(String(decoding: try encoder.encode(edge), as: UTF8.self)) }
            case .graphml:
                let at = try moment.time()?.seconds
                print(GraphML.document(at.map { t in edges.filter { $0.holds(at: t) } } ?? edges))
            case .dot:
                let at = try moment.time()?.seconds ?? Date().timeIntervalSince1970
                func quoted(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
                print("digraph engram {")
                for e in edges where e.holds(at: at) {
                    print("  \(quoted(e.from)) -> \(quoted(e.to)) [label=\(quoted(e.relation))];")
                }
                print("}")
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove for good the edges that stopped holding before a time.",
            discussion: """
                An edge closed (its validTo) before --before is deleted: the graph can no longer \
                be read as of times when only such edges held. Edges still holding, and edges \
                closed later, stay.
                """)

        @OptionGroup var options: DatabaseOptions

        @Option(help: ArgumentHelp("Edges that stopped holding before this time are removed.", valueName: "time"))
        var before: String

        func run() async throws {
            CLI.bootstrap
            let request = GraphPurgeRequest(before: try Parse.time(before, field: "--before"))
            let removed = try await options.serve(.graphPurge, request, readOnly: false) { db in
                GraphPurgeResponse(removed: try db.graphPurge(before: request.before))
            }.removed
            if options.json {
                try CLI.printJSON(["removed": removed])
                return
            }
            print("removed \(removed) edge\(removed == 1 ? "" : "s") closed before \(before)")
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "How many edges and entities the graph holds.")

        @OptionGroup var options: DatabaseOptions

        func run() throws {
            CLI.bootstrap
            let stats = try options.open(readOnly: true).graphStats()
            if options.json {
                try CLI.printJSON(stats)
                return
            }
            print("\(stats.edges) edges (\(stats.open) still holding) between \(stats.entities) entities")
        }
    }
}
