import ArgumentParser
import Engram
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

    func open(readOnly: Bool) throws -> EngramDatabase {
        try EngramDatabase.open(at: location, readOnly: readOnly, logger: logger())
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
