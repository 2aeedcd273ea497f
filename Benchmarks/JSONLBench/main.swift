import EngramBase
// JSON Lines import parsing benchmark: generates (seeded) N records written like
// `engram export` writes them (384-dim vectors as %.8g floats, ids, ISO 8601 times, tags, a
// small meta object), then times reading and decoding the whole file into memories
// (a) the old way, Foundation's JSONDecoder with ISO8601DateFormatter and a line reader that
//     copies each line into a Data (kept here only for comparison), and
// (b) with JSONLRecordDecoder (simdjson) and LineReader,
// and checks that both give the same memories. Nothing is stored. Usage:
//   swift run -c release engram-bench-jsonl [--count N] [--dim D] [--seed S] [--repeat R] [--file PATH] [--skip-foundation]
// Pin it to one core for stable figures: taskset -c 1 .build/release/engram-bench-jsonl
import Engram
import Foundation

struct Options {
    var count = 100_000
    var dimension = 384
    var seed: UInt64 = 42
    var repeats = 1
    var file: String?
    var foundation = true

    init(_ args: [String]) {
        var i = 1
        func value() -> String { i += 1; return i < args.count ? args[i] : "" }
        while i < args.count {
            switch args[i] {
            case "--count": count = Int(value()) ?? count
            case "--dim": dimension = Int(value()) ?? dimension
            case "--seed": seed = UInt64(value()) ?? seed
            case "--repeat": repeats = max(1, Int(value()) ?? repeats)
            case "--file": file = value()
            case "--skip-foundation": foundation = false
            case "-h", "--help":
                print("usage: engram-bench-jsonl [--count N] [--dim D] [--seed S] [--repeat R] [--file PATH (kept)] [--skip-foundation (only (b), no comparison)]")
                exit(0)
            default: FileHandle.standardError.write(Data("unknown option \(args[i])\n".utf8)); exit(2)
            }
            i += 1
        }
    }
}

// MARK: - Generating the file

/// Appends `values` formatted as C's printf formats `%.8g`, separated by commas (one
/// vsnprintf call for all of them: Swift's CVarArg boxing per call is what costs).
func appendFloats(_ out: inout [UInt8], _ values: [Double]) {
    let format = Array(repeating: "%.8g", count: values.count).joined(separator: ",")
    var scratch = [CChar](repeating: 0, count: 32 * values.count + 1)
    let n = withVaList(values) { vsnprintf(&scratch, scratch.count, format, $0) }
    scratch.withUnsafeBytes { out.append(contentsOf: $0.prefix(Int(n))) }
}

func isoTime(_ seconds: Double, _ formatter: ISO8601DateFormatter) -> String {
    formatter.string(from: Date(timeIntervalSince1970: seconds))
}

func generate(_ options: Options, to path: String) throws -> Int {
    var rng = SeededRandom(seed: options.seed)
    let words = ["apple", "river", "meeting", "invoice", "kernel", "garden", "deploy", "budget", "coffee", "signal"]
    let tagPool = ["work", "home", "urgent", "later", "idea", "bug", "travel", "music"]
    guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path) else {
        throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
    }
    defer { try? out.close() }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    var line: [UInt8] = []
    var total = 0
    let start = 1_700_000_000.0
    for i in 0..<options.count {
        line.removeAll(keepingCapacity: true)
        let text = (0..<12).map { _ in words[Int.random(in: 0..<words.count, using: &rng)] }.joined(separator: " ")
        let tags = (0..<Int.random(in: 0...3, using: &rng)).map { _ in "\"\(tagPool[Int.random(in: 0..<tagPool.count, using: &rng)])\"" }
        let time = start + Double(Int.random(in: 0..<31_536_000_000, using: &rng)) / 1000
        let importance = Double(Int.random(in: 0...100, using: &rng)) / 100
        var head = "{\"id\":\"mem-\(i)\",\"namespace\":\"\(i % 3 == 0 ? "notes" : "default")\",\"text\":\"\(text)\","
        head += "\"tags\":[\(tags.joined(separator: ","))],\"meta\":{\"source\":\"bench\",\"n\":\(i),\"ok\":\(i % 2 == 0)},"
        head += "\"time\":\"\(isoTime(time, formatter))\",\"createdAt\":\"\(isoTime(time + 5, formatter))\","
        head += "\"updatedAt\":\"\(isoTime(time + 5, formatter))\","
        head += "\"importance\":\(importance),\"vector\":["
        line.append(contentsOf: head.utf8)
        appendFloats(&line, (0..<options.dimension).map { _ in Double(Float(rng.gaussian() * 0.05)) })
        line.append(contentsOf: "]}\n".utf8)
        out.write(Data(line))
        total += line.count
    }
    return total
}

// MARK: - (a) The old way: Foundation

/// The record type `engram import` decoded with JSONDecoder before simdjson.
struct FoundationRecord: Decodable {
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

    struct TimeValue: Decodable {
        let seconds: Double
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Double.self) { seconds = n; return }
            let t = try c.decode(String.self).trimmingCharacters(in: .whitespaces)
            if let n = Double(t), n.isFinite { seconds = n; return }
            for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
                let f = ISO8601DateFormatter()
                f.formatOptions = options
                if let date = f.date(from: t) { seconds = date.timeIntervalSince1970; return }
            }
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a time")
        }
    }

    var memory: NewMemory {
        NewMemory(id: id, namespace: namespace ?? "default", text: text ?? "", vector: vector ?? [], tags: tags ?? [],
                  meta: meta ?? [:], time: time?.seconds, expiresAt: expiresAt?.seconds, validTo: validTo?.seconds,
                  importance: importance ?? 0)
    }
}

/// The old line reader: 1 MiB reads, each line copied into a Data.
func foundationLines(_ path: String, _ body: (Data) throws -> Void) throws {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    var buffer: [UInt8] = []
    var start = 0
    while true {
        let chunk = handle.readData(ofLength: 1 << 20)
        if chunk.isEmpty { break }
        buffer.removeSubrange(0..<start)
        start = 0
        buffer.append(contentsOf: chunk)
        while let newline = buffer[start...].firstIndex(of: 0x0A) {
            try body(Data(buffer[start..<newline]))
            start = newline + 1
        }
    }
    if start < buffer.count { try body(Data(buffer[start...])) }
}

// MARK: - Comparing results

/// Whether two decodings of a record agree: exactly, except times to the millisecond
/// (Foundation's formatter keeps no more; the generated times have no more).
func agree(_ a: NewMemory, _ b: NewMemory) -> Bool {
    func ms(_ t: Double?) -> Double? { t.map { ($0 * 1000).rounded() } }
    var a = a, b = b
    guard ms(a.time) == ms(b.time), ms(a.expiresAt) == ms(b.expiresAt), ms(a.validTo) == ms(b.validTo),
          a.vector.map(\.bitPattern) == b.vector.map(\.bitPattern) else { return false }
    (a.time, a.expiresAt, a.validTo) = (nil, nil, nil)
    (b.time, b.expiresAt, b.validTo) = (nil, nil, nil)
    return a == b
}

// MARK: - Main

func cpuModel() -> String {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let line = info.split(separator: "\n").first { $0.hasPrefix("model name") }
    return line.flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
}

/// Runs `body` (which returns the number of records it decoded) `repeats` times and prints the
/// best time.
func measure(_ name: String, bytes: Int, repeats: Int, _ body: () throws -> Int) rethrows {
    var best = Double.infinity
    var count = 0
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        count = try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    print(String(format: "%@  %7.2f s  %8.0f records/s  %6.1f MB/s", name.padding(toLength: 36, withPad: " ", startingAt: 0),
                 best, Double(count) / best, Double(bytes) / best / 1e6))
}

func loadAverage() -> Double {
    var loads = [Double](repeating: 0, count: 1)
    return getloadavg(&loads, 1) == 1 ? loads[0] : -1
}

BLASCore.correctIfNeeded()
let options = Options(CommandLine.arguments)
let path = options.file ?? FileManager.default.temporaryDirectory.appendingPathComponent("engram-bench-\(getpid()).jsonl").path

print("CPU: \(cpuModel()); load average \(String(format: "%.2f", loadAverage()))")
let bytes = try generate(options, to: path)
print("file: \(options.count) records, \(options.dimension)-dim vectors, \(String(format: "%.1f", Double(bytes) / 1e6)) MB, seed \(options.seed); best of \(options.repeats)")

if options.foundation {
    try measure("(a) Foundation JSONDecoder", bytes: bytes, repeats: options.repeats) {
        var count = 0
        try foundationLines(path) { line in
            _ = try JSONDecoder().decode(FoundationRecord.self, from: line).memory
            count += 1
        }
        return count
    }
}
try measure("(b) JSONLRecordDecoder (simdjson)", bytes: bytes, repeats: options.repeats) {
    var count = 0
    let reader = try LineReader(path: path, maxLineBytes: 16 << 20)
    var decoder = JSONLRecordDecoder(defaultNamespace: "default")
    while let line = try reader.next() {
        _ = try decoder.decode(line.bytes)
        count += 1
    }
    return count
}

var mismatches = 0
if options.foundation {
    // Not timed: both decoders on every line.
    var decoder = JSONLRecordDecoder(defaultNamespace: "default")
    try foundationLines(path) { line in
        let old = try JSONDecoder().decode(FoundationRecord.self, from: line).memory
        let new = try line.withUnsafeBytes { try decoder.decode($0) }
        if !agree(old, new) {
            if mismatches == 0 { print("first mismatch:\n  Foundation: \(old)\n  simdjson:   \(new)") }
            mismatches += 1
        }
    }
    print("records where the two decoders disagree: \(mismatches)")
}
if options.file == nil { try? FileManager.default.removeItem(atPath: path) }
if mismatches > 0 { exit(1) }
