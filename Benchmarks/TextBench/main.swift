// Full-text and hybrid retrieval benchmark: the same memories (pre-computed vectors, short
// texts) imported without their texts (the vector-only path) and with them, then text,
// vector and hybrid query latency. With --jsonl DIR it writes the memories as JSON Lines
// instead (DIR/with-text.jsonl and DIR/vector-only.jsonl), for timing `engram import`.
// With --context-window W, every memory is a turn of a thread of 10 (`meta.session`) and the
// import with texts uses `[text] context_window = W`, `thread_field = "session"`.
// Usage:
//   swift run -c release engram-bench-text [--count N] [--queries Q] [--dim D] [--batch B] [--seed S]
//                                          [--context-window W] [--jsonl DIR]
import EngramBase
import EngramStore
import Foundation
import Logging

struct Options {
    var count = 100_000
    var queries = 1000
    var dimension = 384
    var batch = 1000
    var seed: UInt64 = 7
    var jsonl: String?
    var contextWindow = 0

    init(_ args: [String]) {
        var i = 1
        func value() -> String { i += 1; return i < args.count ? args[i] : "" }
        while i < args.count {
            switch args[i] {
            case "--count": count = Int(value()) ?? count
            case "--queries": queries = Int(value()) ?? queries
            case "--dim": dimension = Int(value()) ?? dimension
            case "--batch": batch = Int(value()) ?? batch
            case "--seed": seed = UInt64(value()) ?? seed
            case "--jsonl": jsonl = value()
            case "--context-window": contextWindow = Int(value()) ?? contextWindow
            case "-h", "--help":
                print("usage: engram-bench-text [--count N] [--queries Q] [--dim D] [--batch B] [--seed S] [--context-window W] [--jsonl DIR]")
                exit(0)
            default:
                FileHandle.standardError.write(Data("unknown option \(args[i])\n".utf8))
                exit(2)
            }
            i += 1
        }
    }
}

BLASCore.correctIfNeeded()
let o = Options(CommandLine.arguments)
let now = 1_750_000_000.0
var rng = SeededRandom(seed: o.seed)

/// A Zipf-distributed vocabulary of 30,000 pronounceable words, plus identifiers and numbers.
let syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "pi", "da", "gu", "ber", "tan", "qui", "mor", "lis", "fen", "dor"]
let vocabulary: [String] = (0..<30_000).map { _ in
    (0..<Int.random(in: 1...4, using: &rng)).map { _ in syllables.randomElement(using: &rng)! }.joined()
}
let cdf: [Double] = {
    var total = 0.0
    var out: [Double] = []
    for r in 1...vocabulary.count {
        total += 1 / Double(r)
        out.append(total)
    }
    return out.map { $0 / total }
}()

@MainActor func word() -> String {
    let u = Double.random(in: 0..<1, using: &rng)
    var lo = 0, hi = cdf.count - 1
    while lo < hi {
        let mid = (lo + hi) / 2
        if cdf[mid] < u { lo = mid + 1 } else { hi = mid }
    }
    return vocabulary[lo]
}

@MainActor func text() -> String {
    var words = (0..<Int.random(in: 6...24, using: &rng)).map { _ in word() }
    if Int.random(in: 0..<4, using: &rng) == 0 { words.append("PUMP-\(Int.random(in: 1...500, using: &rng))") }
    if Int.random(in: 0..<4, using: &rng) == 0 { words.append("$\(Int.random(in: 1...9999, using: &rng)).\(Int.random(in: 10...99, using: &rng))") }
    return words.joined(separator: " ")
}

func unit(_ v: [Float]) -> [Float] {
    let n = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
    return v.map { $0 / n }
}

FileHandle.standardError.write(Data("generating \(o.count) memories…\n".utf8))
let centres = (0..<2000).map { _ in unit((0..<o.dimension).map { _ in Float(rng.gaussian()) }) }
let memories: [NewMemory] = (0..<o.count).map { i in
    let c = centres[Int(rng.next() % 2000)]
    return NewMemory(id: "doc-\(i)", namespace: i % 2 == 0 ? "a" : "b", text: text(),
                     vector: unit(c.map { $0 + 0.04 * Float(rng.gaussian()) }), tags: ["t\(rng.next() % 10)"],
                     meta: o.contextWindow > 0 ? ["session": .string("s\(i / 20)")] : [:],
                     time: now - Double(rng.next() % 365_000) / 1000 * 86_400, importance: Double(rng.next() % 1000) / 1000)
}
let textBytes = memories.reduce(0) { $0 + $1.text.utf8.count }
/// Queries: 2–5 words of a memory's text (plus one other word), its vector with noise.
let queries: [(text: String, vector: [Float])] = (0..<o.queries).map { _ in
    let m = memories[Int(rng.next() % UInt64(memories.count))]
    let words = m.text.split(separator: " ").map(String.init)
    var picked = (0..<Int.random(in: 2...5, using: &rng)).map { _ in words.randomElement(using: &rng)! }
    picked.append(word())
    return (picked.joined(separator: " "), unit(m.vector.map { $0 + 0.03 * Float(rng.gaussian()) }))
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
}

func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    return s[min(s.count - 1, Int(Double(s.count) * p))]
}

if let dir = o.jsonl {
    /// `x` with six decimals (as "%.6f" prints it, but for halfway cases): Foundation's
    /// String(format:) took minutes for the 38 million numbers.
    func appendDecimal(_ x: Float, to out: inout [UInt8]) {
        let micros = Int((Double(x) * 1e6).rounded())
        if x < 0 { out.append(UInt8(ascii: "-")) }
        out += String(abs(micros) / 1_000_000).utf8
        out.append(UInt8(ascii: "."))
        var fraction = abs(micros) % 1_000_000
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 6)
        for i in stride(from: 5, through: 0, by: -1) {
            digits[i] = UInt8(ascii: "0") + UInt8(fraction % 10)
            fraction /= 10
        }
        out += digits
    }
    // One line per memory; the vector-only file has the same lines without their texts.
    for (name, withText) in [("with-text.jsonl", true), ("vector-only.jsonl", false)] {
        var out: [UInt8] = []
        out.reserveCapacity(memories.count * (o.dimension * 10 + 200))
        for m in memories {
            let text = withText ? m.text.replacingOccurrences(of: "\"", with: "\\\"") : ""
            out += "{\"id\":\"\(m.id!)\",\"namespace\":\"\(m.namespace)\",\"text\":\"\(text)\",\"tags\":[\"\(m.tags[0])\"],\"time\":\(Int(m.time!)),\"importance\":\(m.importance),\"vector\":[".utf8
            for (i, x) in m.vector.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendDecimal(x, to: &out)
            }
            out += "]}\n".utf8
        }
        try Data(out).write(to: URL(fileURLWithPath: dir + "/" + name))
    }
    exit(0)
}

let quiet = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("engram-text-bench-\(getpid())")
defer { try? FileManager.default.removeItem(at: work) }

/// Imports `items` in synced batches; returns the store (open), the rate at which the writes
/// were acknowledged and the rate counting the background work they left (index rebuilds,
/// full-text merges) until it is done.
func importAll(_ items: [NewMemory], into dir: URL, windows: Bool) throws -> (MemoryStore, acknowledged: Double, idle: Double) {
    var settings = StoreSettings(dimension: o.dimension)
    settings.sync = true
    if windows {
        settings.text.contextWindow = o.contextWindow
        settings.text.threadField = "session"
    }
    let store = try MemoryStore.create(at: dir, settings: settings, logger: quiet)
    let written = try seconds {
        for start in stride(from: 0, to: items.count, by: o.batch) {
            try store.upsert(Array(items[start..<min(start + o.batch, items.count)]))
        }
    }
    let settled = seconds { store.waitForBackgroundWork() }
    return (store, Double(items.count) / written, Double(items.count) / (written + settled))
}

let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
    .first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown"
print("cpu: \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores; OpenBLAS core: \(BLASCore.choice)")
print("\(o.count) memories, \(o.dimension)-dim vectors, texts of 6–24 words (\(textBytes) bytes in all), batches of \(o.batch), synced")
if o.contextWindow > 0 { print("with texts: context_window = \(o.contextWindow) over threads of 10 memories") }

// Round 1: the same memories without their texts (the vector-only path); round 2: with them.
// Alternated twice, so that a slower moment of the machine hits both.
var rates: (vector: [Double], text: [Double], vectorIdle: [Double], textIdle: [Double]) = ([], [], [], [])
var store: MemoryStore?
let rounds = 2
for round in 0..<rounds {
    let bare = try importAll(memories.map { var m = $0; m.text = ""; return m }, into: work.appendingPathComponent("vector-\(round)"), windows: false)
    try bare.0.close()
    rates.vector.append(bare.acknowledged)
    rates.vectorIdle.append(bare.idle)
    let full = try importAll(memories, into: work.appendingPathComponent("text-\(round)"), windows: o.contextWindow > 0)
    rates.text.append(full.acknowledged)
    rates.textIdle.append(full.idle)
    if round == rounds - 1 { store = full.0 } else { try full.0.close() }
}
let db = store!
let stats = try db.stats()
func rounded(_ xs: [Double]) -> String { xs.map { String(format: "%.0f", $0) }.joined(separator: ", ") }
print(String(format: "import/s, acknowledged: vector-only %@; with the text index %@ (%.0f%% of vector-only, best of each)",
             rounded(rates.vector), rounded(rates.text), 100 * rates.text.max()! / rates.vector.max()!))
print(String(format: "import/s, until the background work is done: vector-only %@; with the text index %@ (%.0f%%)",
             rounded(rates.vectorIdle), rounded(rates.textIdle), 100 * rates.textIdle.max()! / rates.vectorIdle.max()!))
print(String(format: "text index: %llu documents, %llu terms, %.1f MiB in RocksDB = %.2f× the texts (%.1f MiB); database %.1f MiB",
             stats.textDocuments, stats.textTerms, Double(stats.textIndexBytes) / 1_048_576,
             Double(stats.textIndexBytes) / Double(textBytes), Double(textBytes) / 1_048_576, Double(stats.diskBytes) / 1_048_576))

// The import's background work (RocksDB compactions of the last writes) settles first.
Thread.sleep(forTimeInterval: 5)
print("mode   | p50 ms | p99 ms | mean ms | plan of the first query")
for mode in [RetrievalMode.vector, .text, .hybrid] {
    var times: [Double] = []
    var plan = ""
    for (i, q) in queries.enumerated() {
        let query = MemoryQuery(vector: q.vector, k: 10, now: now, fetchRecords: false, text: q.text, mode: mode)
        let t = try seconds {
            let r = try db.query(query)
            if i == 0 { plan = r.plan }
        }
        times.append(t * 1000)
    }
    print(String(format: "%-6@ | %6.3f | %6.3f | %7.3f | %@", mode.rawValue, percentile(times, 0.5), percentile(times, 0.99),
                 times.reduce(0, +) / Double(times.count), plan))
}
try db.close()
