import ArgumentParser
import Engram
import EngramServer
import Foundation

extension LogFormat: ExpressibleByArgument {}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the change logs of other databases, once: every complete line after each file's saved offset.",
        discussion: """
            Reads Debezium, wal2json (format 1 and 2), Maxwell or Engram's own JSON lines \
            (detected from each file's first line, or set with --format or [ingest] format), \
            maps each row to a memory by [ingest.tables.NAME] in engram.toml (id NAME:key), and \
            applies every change exactly once: a change its row has already seen (or a newer \
            one) is skipped, a transaction applies wholly or not at all, and each file's offset \
            is saved with the changes it produced. A torn last line, and a transaction without \
            its commit, wait for the next run. Lines that cannot be applied are dead letters \
            (`engram ingest errors`); with --strict they are an error instead. Exits 0 when \
            caught up. While engramd holds the database, the pass runs there.
            """)

    @OptionGroup var options: DatabaseOptions

    @Argument(help: "Change-log files, or directories of them (read in name order).")
    var paths: [String]

    @Option(help: "The format of every file (default: [ingest] format, else detected).")
    var format: LogFormat?

    @Flag(help: "Fail at a line that cannot be applied instead of recording it as a dead letter.")
    var strict = false

    func run() async throws {
        CLI.bootstrap
        // Absolute: the engramd holding the database, if one does, reads them.
        let absolute = paths.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath).standardizedFileURL.path }
        let request = WatchRequest(paths: absolute, strict: strict, format: format)
        let response = try await options.serve(.ingestWatch, request, readOnly: false) { db in try await db.watch(request) }
        if options.json {
            try CLI.printJSON(response)
            return
        }
        for s in response.sources {
            var line = "\(s.path): \(s.lines) lines, \(s.applied) changes applied, \(s.skipped) already applied"
            if s.deadLetters > 0 { line += ", \(s.deadLetters) dead letters (engram ingest errors)" }
            if s.waiting { line += "; a transaction waits for its commit" }
            print(line + " (\(s.format?.rawValue ?? "no lines"), offset \(s.offset) of \(s.size))")
        }
    }
}

struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The state of change-log ingestion.",
        subcommands: [Status.self, Errors.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each source's offset, lag and counts.")

        @OptionGroup var options: DatabaseOptions

        func run() throws {
            CLI.bootstrap
            let sources = try options.open(readOnly: true).ingestStatus()
            if options.json {
                try CLI.printJSON(sources)
                return
            }
            if sources.isEmpty { print("no change log has been applied") }
            for s in sources {
                let lag = s.lagBytes.map { "\($0) bytes behind" } ?? "file gone"
                print("\(s.path): offset \(s.offset), \(lag); \(s.applied) applied, \(s.skipped) already applied, \(s.deadLetters) dead letters; updated \(s.updatedAt)")
            }
        }
    }

    struct Errors: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The lines that could not be applied (dead letters).")

        @OptionGroup var options: DatabaseOptions

        @Option(help: "List at most this many.")
        var limit = 100

        func validate() throws {
            guard (1...1_000_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 1000000") }
        }

        func run() throws {
            CLI.bootstrap
            let letters = try options.open(readOnly: true).deadLetters(limit: limit)
            if options.json {
                try CLI.printJSON(letters)
                return
            }
            if letters.isEmpty { print("no dead letters") }
            for d in letters { print("\(d.file):\(d.offset): \(d.error)\n    \(d.line.prefix(200))") }
        }
    }
}
