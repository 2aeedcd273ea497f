import ArgumentParser
import Engram
import EngramServer
import Foundation
import Logging

@main
struct EngramCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engram",
        abstract: "Engram: a vector memory database that remembers text and finds what matters now.",
        discussion: """
        A database is a directory (--db, else $ENGRAM_DB, else ./engram.db). Memories have an id, \
        a namespace, text, a vector, tags, JSON metadata, an event time and an importance. Queries \
        rank by score = w_sim·similarity + w_time·0.5^(age/half_life) + w_importance·importance.

        Start with `engram init`, add memories with `engram add` or `engram import FILE.jsonl`, \
        then `engram query`. `engram generate` runs the local language model (GGUF).
        """,
        version: "0.1.0",
        subcommands: [
            Init.self, Add.self, Import.self, Get.self, Delete.self, Query.self, Stats.self,
            Check.self, Compact.self, Export.self, Embed.self, Ask.self, Feedback.self, Watch.self, Ingest.self, Graph.self,
            Generate.self, Tokenize.self, ModelCommand.self,
        ]
    )

    /// Corrects OpenBLAS's choice of kernels first (which may restart the process, see
    /// `BLASCore`), then runs the command.
    static func main() async {
        BLASCore.correctIfNeeded()
        await main(nil)
    }
}

/// Options every database command takes.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Database directory (default: $ENGRAM_DB, else ./engram.db).", valueName: "dir"))
    var db: String?

    @Flag(name: .long, help: "Print machine-readable JSON.")
    var json = false

    @Flag(name: .long, help: "Log what the database does (index builds, recovery) to stderr.")
    var verbose = false

    var location: URL { EngramDatabase.location(db) }

    func logger() -> Logger {
        var logger = Logger(label: "engram")
        logger.logLevel = verbose ? .info : .warning
        return logger
    }

    /// Opens the database. When a running engramd holds it, opening it for writing fails
    /// with a message naming the daemon.
    func open(readOnly: Bool) throws -> EngramDatabase {
        do {
            return try EngramDatabase.open(at: location, readOnly: readOnly, logger: logger())
        } catch let error as EngramError where error.reason == .databaseInUse {
            guard let socket = daemonSocket() else { throw error }
            throw CLIError("\(location.path) is held by engramd (its socket: \(socket)); this command cannot go through the daemon yet: stop engramd to run it, or use the socket API")
        }
    }

    /// The socket of the engramd serving this database, when one answers there.
    func daemonSocket() -> String? {
        DaemonClient.socket(for: location, settings: settingsDocument().flatMap { try? ServerSettings($0) } ?? ServerSettings())
    }

    /// The database's engram.toml, read without opening the database; nil when unreadable.
    func settingsDocument() -> SettingsDocument? {
        (try? String(contentsOf: location.appendingPathComponent("engram.toml"), encoding: .utf8)).flatMap { try? SettingsDocument(parsing: $0) }
    }

    /// Runs `method` through the engramd serving the database when one answers (the daemon
    /// holds it open: nothing is opened here); else opens it (`readOnly`, or for writing and
    /// closed after) and runs `local`.
    func serve<Response: Decodable & Sendable>(_ method: RPCMethod, _ request: some Encodable, readOnly: Bool,
                                               local: (EngramDatabase) async throws -> Response) async throws -> Response {
        if let socket = daemonSocket(),
           let response = try await DaemonClient.call(socket: socket, method, request, as: Response.self) {
            return response
        }
        let db = try open(readOnly: readOnly)
        let response: Response
        do {
            response = try await local(db)
        } catch {
            if !readOnly { try? db.close() }
            throw error
        }
        if !readOnly { try db.close() }
        return response
    }
}

/// A run-time failure: printed as `Error: message`, exit status 1 (no usage text, unlike
/// `ValidationError`, which is for command lines that are wrong).
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum CLI {
    /// Bootstraps logging once: warnings (and info with --verbose) to stderr.
    static let bootstrap: Void = {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return handler
        }
    }()

    /// Prints `value` as one line of JSON, encoded the way every Engram front end encodes it.
    static func printJSON<T: Encodable>(_ value: T) throws {
        FileHandle.standardOutput.write(try EngramJSON.encode(value))
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    static func printJSON(_ object: Any) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    static func printErr(_ text: String) {
        fflush(nil) // what was printed to stdout comes first
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static var stderrIsTerminal: Bool { isatty(2) != 0 }
}
