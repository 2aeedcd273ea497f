import EngramBase
// Store benchmark: import rate, query latency and throughput, recall against exact search
// computed in the same run, filtered and time-decayed recall (next to the recall of the usual
// over-fetch-then-re-rank baseline), reopen time, peak RSS and disk size, for each index
// kind (`flat` is the exact baseline). Usage:
//   swift run -c release engram-bench-store [--count N] [--dim D] [--queries Q] [--kinds flat,ivf,hnsw,auto]
import CFaiss
import EngramStore
import Foundation
import Logging

struct Options {
    var count = 100_000
    var dimension = 384
    var queries = 1000
    var kinds: [IndexKind] = [.auto, .ivf, .flat, .hnsw]
    var hnswCount = 20_000
    var batch = 1000
    var seed: UInt64 = 42
    var nprobe = 0
    var clusters = 2000
    var spread: Float = 0.04
    /// Keep the first kind's database here (closed) for command-line timings.
    var keepDB: String?

    init(_ args: [String]) {
        var i = 1
        func value() -> String { i += 1; return i < args.count ? args[i] : "" }
        while i < args.count {
            switch args[i] {
            case "--count": count = Int(value()) ?? count
            case "--dim": dimension = Int(value()) ?? dimension
            case "--queries": queries = Int(value()) ?? queries
            case "--hnsw-count": hnswCount = Int(value()) ?? hnswCount
            case "--batch": batch = Int(value()) ?? batch
            case "--seed": seed = UInt64(value()) ?? seed
            case "--nprobe": nprobe = Int(value()) ?? nprobe
            case "--clusters": clusters = Int(value()) ?? clusters
            case "--spread": spread = Float(value()) ?? spread
            case "--keep-db": keepDB = value()
            case "--kinds": kinds = value().split(separator: ",").compactMap { IndexKind(rawValue: String($0)) }
            case "-h", "--help":
                print("usage: engram-bench-store [--count N] [--dim D] [--queries Q] [--kinds auto,ivf,flat,hnsw] [--hnsw-count N] [--batch B] [--seed S] [--nprobe P] [--clusters C] [--spread noise-per-dim] [--keep-db DIR]")
                exit(0)
            default: FileHandle.standardError.write(Data("unknown option \(args[i])\n".utf8)); exit(2)
            }
            i += 1
        }
    }
}

func unit(_ v: [Float]) -> [Float] {
    let n = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
    return v.map { $0 / n }
}

let now = 1_750_000_000.0
let day = 86_400.0

/// Clustered unit vectors over a year: `clusters` random centres, each point the centre plus
/// Gaussian noise of `spread` per dimension; tag "t<i>" on ~1/10 each, "rare" on ~1%.
func dataset(_ o: Options, count: Int) -> (memories: [NewMemory], vectors: [Float], queries: [[Float]]) {
    var rng = SeededRandom(seed: o.seed)
    let clusters = o.clusters
    let centres = (0..<clusters).map { _ in unit((0..<o.dimension).map { _ in Float(rng.gaussian()) }) }
    var memories: [NewMemory] = []
    var flat: [Float] = []
    memories.reserveCapacity(count)
    flat.reserveCapacity(count * o.dimension)
    for i in 0..<count {
        let c = centres[Int(rng.next() % UInt64(clusters))]
        let v = unit(c.map { $0 + o.spread * Float(rng.gaussian()) })
        var tags = ["t\(rng.next() % 10)"]
        if rng.next() % 100 == 0 { tags.append("rare") }
        memories.append(NewMemory(id: "doc-\(i)", namespace: i % 2 == 0 ? "a" : "b", text: "", vector: v, tags: tags,
                                  meta: [:], time: now - Double(rng.next() % 365_000) / 1000 * day,
                                  importance: Double(rng.next() % 1000) / 1000))
        flat.append(contentsOf: v)
    }
    let queries = (0..<o.queries).map { _ in
        unit(centres[Int(rng.next() % UInt64(clusters))].map { $0 + o.spread * Float(rng.gaussian()) })
    }
    return (memories, flat, queries)
}

func exactTop(_ q: [Float], _ vectors: [Float], _ memories: [NewMemory], k: Int,
              wTime: Double = 0, halfLife: Double = 1, keep: (Int) -> Bool = { _ in true }) -> [String] {
    let d = q.count
    var scored: [(Double, Int)] = []
    scored.reserveCapacity(memories.count)
    vectors.withUnsafeBufferPointer { v in
        for i in 0..<memories.count where keep(i) {
            var s: Float = 0
            for j in 0..<d { s += q[j] * v[i * d + j] }
            let rec = pow(0.5, max(0, now - memories[i].time!) / halfLife)
            scored.append((Double(s) + wTime * rec, i))
        }
    }
    scored.sort { $0.0 > $1.0 }
    return scored.prefix(k).map { memories[$0.1].id! }
}

/// Exact unfiltered top-10 for all queries with FAISS's exact flat index (BLAS).
func groundTruth(_ vectors: [Float], _ queries: [[Float]], d: Int, k: Int) -> [[Int]] {
    var index: OpaquePointer?
    precondition(cfaiss_index_factory(Int32(d), "IDMap,Flat", 1, &index) == nil)
    defer { cfaiss_index_free(index) }
    let ids = (0..<Int64(vectors.count / d)).map { $0 }
    precondition(cfaiss_index_add_with_ids(index, Int64(ids.count), vectors, ids) == nil)
    let q = queries.flatMap { $0 }
    var dist = [Float](repeating: 0, count: queries.count * k)
    var labels = [Int64](repeating: -1, count: queries.count * k)
    precondition(cfaiss_index_search(index, Int64(queries.count), q, Int64(k), nil, &dist, &labels) == nil)
    return (0..<queries.count).map { i in labels[i * k..<(i + 1) * k].map { Int($0) } }
}

func peakRSSMiB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return (Double(line.split(separator: " ")[1]) ?? 0) / 1024
    }
    return 0
}
func resetPeakRSS() { try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8) }

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
}

func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    return s[min(s.count - 1, Int(Double(s.count) * p))]
}

func recallAt(_ got: [String], _ want: [String]) -> Double {
    Double(Set(got).intersection(want).count) / Double(max(1, want.count))
}

LoggingSystem.bootstrap { label in
    var h = StreamLogHandler.standardError(label: label)
    h.logLevel = ProcessInfo.processInfo.environment["ENGRAM_BENCH_VERBOSE"] == nil ? .warning : .info
    return h
}
BLASCore.correctIfNeeded()
let o = Options(CommandLine.arguments)
print("engram-bench-store: \(o.count) \(o.dimension)-dim vectors in \(o.clusters) clusters (noise \(o.spread)/dim), \(o.queries) queries, k=10, 1 query thread, batches of \(o.batch) synced")
let full = dataset(o, count: o.count)
var truthCache: [Int: [[Int]]] = [:]

var concurrency: [IndexKind: String] = [:]

/// Queries from `threads` threads at once: QPS and every latency.
func queryLoad(_ store: MemoryStore, _ queries: [[Float]], threads: Int, count: Int) throws -> (qps: Double, latencies: [Double]) {
    let shared = Shared()
    let wall = seconds {
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var mine: [Double] = []
            do {
                for i in stride(from: t, to: count, by: threads) {
                    mine.append(try seconds { _ = try store.query(MemoryQuery(vector: queries[i % queries.count], k: 10, now: now, fetchRecords: false)) })
                }
            } catch { shared.update { $0.failure = error } }
            shared.update { $0.latencies += mine }
        }
    }
    let result = shared.value
    if let failure = result.failure { throw failure }
    return (Double(count) / wall, result.latencies)
}

/// Results that several threads add to.
final class Shared: @unchecked Sendable {
    struct Value {
        var latencies: [Double] = []
        var failure: Error?
        var count = 0
        var seconds = 0.0
    }
    private let lock = NSLock()
    private var stored = Value()
    var value: Value { lock.withLock { stored } }
    func update(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}

/// Query throughput with 1 and 2 threads, and latencies during a steady write stream and
/// during a rebuild (compact), against quiet latencies.
func concurrencyPhase(_ store: MemoryStore, _ queries: [[Float]], dimension: Int) throws -> String {
    let count = 4000
    _ = try queryLoad(store, queries, threads: 1, count: 500)  // warm
    let one = try queryLoad(store, queries, threads: 1, count: count)
    let two = try queryLoad(store, queries, threads: 2, count: count)
    let quietP99 = percentile(one.latencies, 0.99) * 1000

    // A writer upserts batches of 100 while one thread queries.
    var rng = SeededRandom(seed: 7)
    let extra = (0..<20_000).map { i in
        NewMemory(id: "extra-\(i)", vector: unit((0..<dimension).map { _ in Float(rng.gaussian()) }), time: now)
    }
    let stop = ManagedAtomicFlag()
    let writes = Shared()
    let writer = Thread {
        var i = 0
        while !stop.isSet && i < extra.count {
            _ = try? store.upsert(Array(extra[i..<min(i + 100, extra.count)]))
            i += 100
        }
        writes.update { $0.count = i }
    }
    writer.start()
    let duringWrites = try queryLoad(store, queries, threads: 1, count: 2000)
    stop.set()
    while !writer.isFinished { usleep(1000) }

    // A rebuild (compact) runs in the background while one thread queries.
    let rebuilt = Shared()
    let rebuild = Thread {
        let t = (try? seconds { try store.compact() }) ?? -1
        rebuilt.update { $0.seconds = t }
    }
    rebuild.start()
    var duringRebuild: [Double] = []
    while !rebuild.isFinished {
        duringRebuild += try queryLoad(store, queries, threads: 1, count: 50).latencies
    }
    return String(format: "queries: 1 thread %.0f QPS (p50 %.3f ms, p99 %.3f ms); 2 threads %.0f QPS (%.2fx)\n" +
                  "during writes (%d memories in batches of 100): p50 %.3f ms, p99 %.3f ms\n" +
                  "during a rebuild (%.2f s, %d queries): p50 %.3f ms, p99 %.3f ms (%.2fx the quiet p99)",
                  one.qps, percentile(one.latencies, 0.5) * 1000, quietP99, two.qps, two.qps / one.qps,
                  writes.value.count, percentile(duringWrites.latencies, 0.5) * 1000, percentile(duringWrites.latencies, 0.99) * 1000,
                  rebuilt.value.seconds, duringRebuild.count, percentile(duringRebuild, 0.5) * 1000,
                  percentile(duringRebuild, 0.99) * 1000, percentile(duringRebuild, 0.99) * 1000 / quietP99)
}

/// A flag set once, read from another thread.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

print("kind   | setting |     n | import/s | p50 ms | p99 ms |    QPS | recall@10 | filt p50 ms | filt recall | decay p50 ms | decay recall | re-rank recall | reopen s | peak RSS MiB | disk MiB")
for kind in o.kinds {
    let n = kind == .hnsw ? min(o.hnswCount, o.count) : o.count
    let memories = Array(full.memories.prefix(n))
    let vectors = Array(full.vectors.prefix(n * o.dimension))
    if truthCache[n] == nil { truthCache[n] = groundTruth(vectors, full.queries, d: o.dimension, k: 10) }
    let truth = truthCache[n]!
    let keep = kind == o.kinds.first ? o.keepDB : nil
    let dir = keep.map { URL(fileURLWithPath: $0) }
        ?? FileManager.default.temporaryDirectory.appendingPathComponent("engram-bench-\(UUID().uuidString)")
    defer { if keep == nil { try? FileManager.default.removeItem(at: dir) } }
    resetPeakRSS()
    var settings = StoreSettings(dimension: o.dimension, index: kind)
    settings.sync = true
    settings.nprobe = o.nprobe
    var store = try MemoryStore.create(at: dir, settings: settings)
    let importTime = try seconds {
        for start in stride(from: 0, to: n, by: o.batch) {
            try store.upsert(Array(memories[start..<min(n, start + o.batch)]))
        }
    }
    // Queries are measured once the background work of the import (rebuilds, snapshots) is done.
    store.waitForBackgroundWork()
    let stats = try store.stats()

    var latencies: [Double] = [], recallSum = 0.0
    for (qi, q) in full.queries.enumerated() {
        var got: [String] = []
        latencies.append(try seconds { got = try store.query(MemoryQuery(vector: q, k: 10, now: now)).results.map(\.id) })
        recallSum += recallAt(got, truth[qi].map { memories[$0].id! })
    }
    // Filtered: one tag of ten (~10% of the memories) plus a namespace (~5% together).
    var filtLatencies: [Double] = [], filtRecall = 0.0
    let filtQueries = min(200, full.queries.count)
    for qi in 0..<filtQueries {
        let q = full.queries[qi]
        let tag = "t\(qi % 10)"
        var got: [String] = []
        let filter = MemoryFilter(namespace: "a", allTags: [tag])
        filtLatencies.append(try seconds { got = try store.query(MemoryQuery(vector: q, k: 10, filter: filter, now: now)).results.map(\.id) })
        let want = exactTop(q, vectors, memories, k: 10) { memories[$0].namespace == "a" && memories[$0].tags.contains(tag) }
        filtRecall += recallAt(got, want)
    }
    // Time-decayed: LangChain-like weights, half-life of a week.
    // Baseline: the usual over-fetch-then-re-rank (top 4k by similarity, re-scored).
    var decayLatencies: [Double] = [], decayRecall = 0.0, naiveRecall = 0.0
    let decayQueries = min(100, full.queries.count)
    for qi in 0..<decayQueries {
        let q = full.queries[qi]
        var got: [String] = []
        let scoring = ScoringOptions(wSim: 1, wTime: 0.5, wImportance: 0, halfLife: 7 * day)
        decayLatencies.append(try seconds { got = try store.query(MemoryQuery(vector: q, k: 10, scoring: scoring, now: now)).results.map(\.id) })
        let want = exactTop(q, vectors, memories, k: 10, wTime: 0.5, halfLife: 7 * day)
        decayRecall += recallAt(got, want)
        let pool = try store.query(MemoryQuery(vector: q, k: 40, scoring: ScoringOptions(wTime: 0), now: now)).results
        let reranked = pool.map { ($0.id, $0.similarity + 0.5 * pow(0.5, max(0, now - $0.time) / (7 * day))) }
            .sorted { $0.1 > $1.1 }.prefix(10).map(\.0)
        naiveRecall += recallAt(Array(reranked), want)
    }
    let peak = peakRSSMiB()
    if kind == o.kinds.first { concurrency[kind] = try concurrencyPhase(store, full.queries, dimension: o.dimension) }
    try store.close()
    let reopen = try seconds { store = try MemoryStore.open(at: dir) }
    let disk = Double(stats.diskBytes) / 1_048_576
    let p50 = percentile(latencies, 0.5) * 1000, p99 = percentile(latencies, 0.99) * 1000
    let qps = Double(latencies.count) / latencies.reduce(0, +)
    print(String(format: "%-6@ | %-7@ | %5d | %8.0f | %6.3f | %6.3f | %6.0f | %9.3f | %11.3f | %11.3f | %12.3f | %12.3f | %14.3f | %8.2f | %12.0f | %8.0f",
                 stats.indexKind, kind.rawValue, n, Double(n) / importTime, p50, p99, qps, recallSum / Double(full.queries.count),
                 percentile(filtLatencies, 0.5) * 1000, filtRecall / Double(filtQueries),
                 percentile(decayLatencies, 0.5) * 1000, decayRecall / Double(decayQueries),
                 naiveRecall / Double(decayQueries), reopen, peak, disk))
    try store.close()
}
for (kind, text) in concurrency { print("\nconcurrency (\(kind.rawValue), \(o.count) memories, 1 core each):\n\(text)") }
