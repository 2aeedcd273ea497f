import ArgumentParser
import Engram
import EngramServer
import Foundation

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import memories from a JSON Lines file.",
        discussion: """
        One JSON object per line with the fields id, text, vector, namespace, tags, meta, time \
        (ISO 8601 with zone, or epoch seconds), importance, expiresAt, validTo. Records without \
        a vector have their text embedded. Lines are written in batches, each committed \
        atomically and durably before the next is read. A malformed line stops the import with \
        its line number (batches before it stay imported), unless --skip-invalid is given. \
        While engramd holds the database, the import runs there (engramd reads the file).
        """)

    @OptionGroup var options: DatabaseOptions

    @Argument(help: "The JSONL file ('-' for standard input).")
    var file: String

    @Option(help: "Records per committed batch.")
    var batch = 1000

    @Option(name: .customLong("ns"), help: "Namespace for records that do not name one.")
    var namespace: String = MemoryStore.defaultNamespace

    @Flag(name: .customLong("skip-invalid"), help: "Skip malformed lines (reported at the end) instead of stopping.")
    var skipInvalid = false

    @Flag(name: .customLong("ack-lines"), help: "After each durable batch print `ack N` to stdout, N = lines acknowledged so far.")
    var ackLines = false

    @Flag(name: .customLong("no-progress"), help: "No progress bar, even on a terminal.")
    var noProgress = false

    @Option(name: .customLong("max-line-bytes"), help: "Longest accepted line.")
    var maxLineBytes = 16 << 20

    func validate() throws {
        guard (1...100_000).contains(batch) else { throw ValidationError("--batch must be between 1 and 100000") }
    }

    func run() async throws {
        CLI.bootstrap
        if let socket = options.daemonSocket() {
            try await importThroughDaemon(socket)
            return
        }
        let db = try options.open(readOnly: false)
        defer { try? db.close() }
        let progress = ProgressBar(enabled: !noProgress && !options.json && CLI.stderrIsTerminal)
        let importOptions = ImportOptions(batchSize: batch, defaultNamespace: namespace, skipInvalid: skipInvalid,
                                          maxLineBytes: maxLineBytes)
        let summary: ImportSummary
        do {
            summary = try await db.importJSONL(path: file, options: importOptions) { event in
                switch event {
                case let .progress(done, total, records): progress.update(done: done, total: total, count: records)
                case let .acknowledged(line): acknowledge(line)
                case let .skipped(line, error): skip(line, error.message, progress)
                }
            }
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        // Everything imported is durable already; a close that fails (a full disk while the
        // index snapshot or the flush is written) is still reported, and the status says so.
        do {
            try db.close()
        } catch {
            CLI.printErr("engram: the \(summary.imported) imported memories are durable, but closing the database failed: \(error)")
            throw ExitCode(1)
        }
        try report(summary)
    }

    /// The same import run by the engramd holding the database (`Ingest/Import`): it reads the
    /// file; its progress, acknowledgements and skipped lines come back as they happen.
    private func importThroughDaemon(_ socket: String) async throws {
        guard file != "-" else {
            throw CLIError("\(options.location.path) is held by engramd, which reads an import's file itself: give a file rather than standard input, or stop engramd")
        }
        let path = URL(fileURLWithPath: (file as NSString).expandingTildeInPath).standardizedFileURL.path
        let request = ImportRequest(path: path, batchSize: batch, namespace: namespace, skipInvalid: skipInvalid, maxLineBytes: maxLineBytes)
        let progress = ProgressBar(enabled: !noProgress && !options.json && CLI.stderrIsTerminal)
        var summary: ImportSummary?
        defer { progress.finish() }
        _ = try await DaemonClient.call(socket: socket, .ingestImport, request, as: ImportStreamMessage.self) { data in
            let message = try JSONDecoder().decode(ImportStreamMessage.self, from: data)
            if let p = message.progress { progress.update(done: p.bytesRead, total: p.total, count: p.records) }
            if let line = message.acknowledged { acknowledge(line) }
            if let skipped = message.skipped { skip(skipped.line, skipped.message, progress) }
            if let done = message.summary { summary = done }
        }
        progress.finish()
        guard let summary else { throw CLIError("engramd ended the import without its summary") }
        try report(summary)
    }

    private func acknowledge(_ line: Int) {
        // Unbuffered: a reader must see the ack as soon as the batch is durable.
        if ackLines { FileHandle.standardOutput.write(Data("ack \(line)\n".utf8)) }
    }

    private func skip(_ line: Int, _ message: String, _ progress: ProgressBar) {
        progress.clearLine()
        CLI.printErr("engram: skipping line \(line): \(message)")
    }

    private func report(_ summary: ImportSummary) throws {
        if options.json {
            try CLI.printJSON(summary)
        } else {
            let seconds = summary.seconds
            var text = String(format: "imported %d memories from %@ in %.2f s (%.0f/s)", summary.imported,
                              file == "-" ? "standard input" : file, seconds, Double(summary.imported) / max(seconds, 1e-9))
            if summary.embedSeconds > 0 { text += String(format: "; embedding %.2f s, storage %.2f s", summary.embedSeconds, summary.storeSeconds) }
            if summary.skipped > 0 {
                text += "; skipped \(summary.skipped) invalid line\(summary.skipped == 1 ? "" : "s") (first: \(summary.skippedLines.prefix(5).map(String.init).joined(separator: ", ")))"
            }
            CLI.printErr(text)
        }
    }
}

/// A one-line progress bar on stderr, redrawn at most 10 times a second.
final class ProgressBar {
    private let enabled: Bool
    private var lastDraw = Date.distantPast
    private let started = Date()
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(done: Int64, total: Int64?, count: Int) {
        guard enabled, Date().timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = Date()
        let rate = Double(count) / max(Date().timeIntervalSince(started), 1e-6)
        var line: String
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let width = 30
            let filled = Int(fraction * Double(width))
            line = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
            line += String(format: " %3.0f%%", fraction * 100)
        } else {
            line = "importing"
        }
        line += String(format: "  %d records  %.0f/s", count, rate)
        FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
        drawn = true
    }

    func clearLine() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    func finish() {
        clearLine()
        drawn = false
    }
}
