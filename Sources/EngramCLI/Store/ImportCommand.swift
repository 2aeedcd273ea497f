import ArgumentParser
import Engram
import Foundation

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import memories from a JSON Lines file.",
        discussion: """
        One JSON object per line with the fields id, text, vector, namespace, tags, meta, time \
        (ISO 8601 with zone, or epoch seconds), importance, expiresAt, validTo. Records without \
        a vector have their text embedded. Lines are written in batches, each committed \
        atomically and durably before the next is read. A malformed line stops the import with \
        its line number (batches before it stay imported), unless --skip-invalid is given.
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
        let reader = try LineReader(path: file, maxLineBytes: maxLineBytes)
        var decoder = JSONLRecordDecoder(defaultNamespace: namespace)
        let db = try options.open(readOnly: false)
        defer { try? db.close() }
        let progress = ProgressBar(total: reader.size, enabled: !noProgress && !options.json && CLI.stderrIsTerminal)
        let started = Date()
        var pending: [(line: Int, memory: NewMemory)] = []
        var imported = 0, skipped: [Int] = []
        var embedSeconds = 0.0, storeSeconds = 0.0
        var lastLine = 0

        func flush() async throws {
            guard !pending.isEmpty else { return }
            var memories = pending.map(\.memory)
            let needText = memories.indices.filter { memories[$0].vector.isEmpty }
            if !needText.isEmpty {
                let t = Date()
                let vectors = try await db.embedForStorage(needText.map { memories[$0].text })
                for (i, v) in zip(needText, vectors) { memories[i].vector = v }
                embedSeconds += Date().timeIntervalSince(t)
            }
            let t = Date()
            do {
                try db.store.upsert(memories)
            } catch let error as StoreError {
                // Name the line of a record the store refused.
                let lines = "\(pending.first!.line)–\(pending.last!.line)"
                throw CLIError("lines \(lines) were not imported: \(error). \(imported) memories from earlier lines are imported.")
            }
            storeSeconds += Date().timeIntervalSince(t)
            imported += memories.count
            pending.removeAll(keepingCapacity: true)
            if ackLines {
                // Unbuffered: a reader must see the ack as soon as the batch is durable.
                FileHandle.standardOutput.write(Data("ack \(lastLine)\n".utf8))
            }
        }

        while let line = try reader.next() {
            let number = line.number
            progress.update(done: reader.bytesRead, count: imported + pending.count)
            if line.bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { lastLine = number; continue }
            do {
                let record = try decoder.decode(line.bytes)
                pending.append((number, record))
            } catch {
                let message = "line \(number): \(error)"
                if skipInvalid {
                    skipped.append(number)
                    if skipped.count <= 5 { progress.clearLine(); CLI.printErr("engram: skipping \(message)") }
                } else {
                    try await flush()
                    progress.finish()
                    throw CLIError("\(message). Nothing from this line on was imported; \(imported) memories from the lines before it are.")
                }
            }
            lastLine = number
            if pending.count >= batch { try await flush() }
        }
        try await flush()
        progress.finish()
        let seconds = Date().timeIntervalSince(started)
        if options.json {
            CLI.printJSON(["imported": imported, "lines": lastLine, "skipped": skipped.count, "seconds": seconds,
                           "embedSeconds": embedSeconds, "storeSeconds": storeSeconds])
        } else {
            var summary = String(format: "imported %d memories from %@ in %.2f s (%.0f/s)", imported,
                                 file == "-" ? "standard input" : file, seconds, Double(imported) / max(seconds, 1e-9))
            if embedSeconds > 0 { summary += String(format: "; embedding %.2f s, storage %.2f s", embedSeconds, storeSeconds) }
            if !skipped.isEmpty { summary += "; skipped \(skipped.count) invalid line\(skipped.count == 1 ? "" : "s") (first: \(skipped.prefix(5).map(String.init).joined(separator: ", ")))" }
            CLI.printErr(summary)
        }
    }
}

/// A one-line progress bar on stderr, redrawn at most 10 times a second.
final class ProgressBar {
    private let total: Int64?
    private let enabled: Bool
    private var lastDraw = Date.distantPast
    private let started = Date()
    private var drawn = false

    init(total: Int64?, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func update(done: Int64, count: Int) {
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
