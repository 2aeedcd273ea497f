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
                try await db.upsert(memories)
            } catch let error as EngramError {
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

        while let (number, line) = try reader.next() {
            progress.update(done: reader.bytesRead, count: imported + pending.count)
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { lastLine = number; continue }
            do {
                let record = try ImportRecord.decode(line, defaultNamespace: namespace)
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

/// One JSONL record.
struct ImportRecord: Decodable {
    var id: String?
    var text: String?
    var vector: [Float]?
    var namespace: String?
    var tags: [String]?
    var meta: [String: JSONValue]?
    var time: TimeValue?
    var importance: Double?
    var expiresAt: TimeValue?
    var validTo: TimeValue?

    /// ISO 8601 string or epoch seconds.
    struct TimeValue: Decodable {
        let seconds: Double
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Double.self) { seconds = n; return }
            let s = try c.decode(String.self)
            seconds = try Timestamp(parsing: s, field: "time").seconds
        }
    }

    static func decode(_ line: Data, defaultNamespace: String) throws -> NewMemory {
        let r: ImportRecord
        do {
            r = try JSONDecoder().decode(ImportRecord.self, from: line)
        } catch let DecodingError.dataCorrupted(context) {
            throw ImportError("malformed JSON (\(context.underlyingError.map { "\($0.localizedDescription)" } ?? context.debugDescription))")
        } catch let DecodingError.typeMismatch(_, context) {
            throw ImportError("field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch {
            throw ImportError("\(error)")
        }
        if r.vector == nil && (r.text ?? "").isEmpty { throw ImportError("record has neither \"vector\" nor \"text\"") }
        return NewMemory(id: r.id, namespace: r.namespace ?? defaultNamespace, text: r.text ?? "", vector: r.vector ?? [],
                         tags: r.tags ?? [], meta: r.meta ?? [:], time: r.time?.seconds, expiresAt: r.expiresAt?.seconds,
                         validTo: r.validTo?.seconds, importance: r.importance ?? 0)
    }
}

struct ImportError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reads a file (or standard input) line by line in 1 MiB chunks, with line numbers.
final class LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    /// Start of the unread part of `buffer`.
    private var start = 0
    private var eof = false
    private var lineNumber = 0
    private let maxLineBytes: Int
    let size: Int64?
    private(set) var bytesRead: Int64 = 0

    init(path: String, maxLineBytes: Int) throws {
        self.maxLineBytes = maxLineBytes
        if path == "-" {
            handle = FileHandle.standardInput
            size = nil
        } else {
            guard let h = FileHandle(forReadingAtPath: path) else { throw CLIError("cannot read \(path)") }
            handle = h
            size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
        }
    }

    private func tooLong() -> CLIError {
        CLIError("line \(lineNumber + 1) is longer than \(maxLineBytes) bytes (--max-line-bytes)")
    }

    /// The next line without its newline, or nil at the end.
    func next() throws -> (Int, Data)? {
        var searchFrom = start
        while true {
            if let newline = buffer[searchFrom...].firstIndex(of: 0x0A) {
                guard newline - start <= maxLineBytes else { throw tooLong() }
                let line = Data(buffer[start..<newline])
                start = newline + 1
                lineNumber += 1
                return (lineNumber, line)
            }
            if buffer.count - start > maxLineBytes { throw tooLong() }
            if eof {
                guard start < buffer.count else { return nil }
                let line = Data(buffer[start...])
                start = buffer.count
                lineNumber += 1
                return (lineNumber, line)
            }
            // Drop what was consumed, then read more.
            buffer.removeSubrange(0..<start)
            start = 0
            searchFrom = buffer.count
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { eof = true } else { buffer.append(contentsOf: chunk); bytesRead += Int64(chunk.count) }
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
