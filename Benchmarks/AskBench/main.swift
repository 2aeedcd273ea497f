// `ask` end to end on the sample data (Data/sample/memories.jsonl, embedded by MiniLM), in one
// process with SmolLM2: for each question, retrieval, time to first token, prefill and decode,
// first with the engine's state cold (a fresh context: the whole prompt is evaluated) and then
// warm (the previous question's prompt prefix, the system message, is kept), both with
// --no-cache; then the same question again with the answer cache (a hit).
// Usage:
//   swift run -c release engram-bench-ask [--rounds N] [--max-tokens N] [--threads N]
import ArgumentParser
import Engram
import EngramGLM
import Foundation

struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engram-bench-ask",
        abstract: "ask end to end on the sample data: retrieval, first token, prefill, decode (cold and warm), a cache hit.")

    @Option(help: "Rounds of the four questions.")
    var rounds = 3
    @Option(name: .customLong("max-tokens"), help: "Most tokens of each answer.")
    var maxTokens = 32
    @Option(help: "Threads for the engine's kernels.")
    var threads = 2
}

BLASCore.correctIfNeeded()
let o = Options.parseOrExit()
let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("engram-ask-bench-\(getpid())")
defer { try? FileManager.default.removeItem(at: work) }

let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
    .first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown"
print("cpu: \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores; OpenBLAS core: \(BLASCore.choice); engine threads \(o.threads)")

let db = try EngramDatabase.create(at: work)
let imported = try await db.importJSONL(path: root.appendingPathComponent("Data/sample/memories.jsonl").path)
print("sample: \(imported.imported) memories")
let model = try GLMModel(path: GLMModelLocator.resolve())
let templates = try db.promptTemplates()
let questions = [
    "Which database did we choose for the billing ledger, and why?",
    "What caused the checkout latency spike?",
    "Where did we go on holiday?",
    "Who joined the billing team?",
]
func request(_ q: String, cache: Bool) -> AskRequest {
    var r = AskRequest(question: q, now: Timestamp(1_795_435_200))  // 2026-11-23T12:00:00Z
    r.temperature = 0
    r.maxTokens = o.maxTokens
    r.cache = cache
    return r
}
_ = try await db.embedQuery("warm the embedder up")

struct Row { var retrieve = 0.0, first = 0.0, prefill = 0.0, decode = 0.0, tokens = 0, prompt = 0, kept = 0, total = 0.0 }
func measure(_ q: String, generator: GLMTextGenerator, cache: Bool) async throws -> (Row, Bool) {
    let t0 = DispatchTime.now().uptimeNanoseconds
    let r = try await db.ask(request(q, cache: cache), generator: generator, templates: templates)
    let total = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
    return (Row(retrieve: r.timings.retrieveMs, first: r.timings.firstTokenMs ?? 0, prefill: r.timings.prefillMs,
                decode: r.timings.decodeMs, tokens: r.usage.completionTokens, prompt: r.usage.promptTokens,
                kept: r.usage.cachedPromptTokens, total: total), r.cached)
}
func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

var cold: [Row] = [], warm: [Row] = [], hits: [Double] = []
let engine = try GLMGenerator(model: model, threads: o.threads, contextSize: 2048)
let shared = GLMTextGenerator(engine)
for _ in 0..<o.rounds {
    for q in questions {
        // Cold: a fresh context, nothing kept.
        let fresh = GLMTextGenerator(try GLMGenerator(model: model, threads: o.threads, contextSize: 2048))
        cold.append(try await measure(q, generator: fresh, cache: false).0)
        // Warm: the shared engine last answered another question with the same system message.
        warm.append(try await measure(q, generator: shared, cache: false).0)
        // The answer cache: stored by a first ask, then a hit.
        _ = try await measure(q, generator: shared, cache: true)
        let (hit, cached) = try await measure(q, generator: shared, cache: true)
        precondition(cached, "the repeated question was not answered from the cache")
        hits.append(hit.total)
    }
}
print("ask, \(questions.count) questions × \(o.rounds) rounds, up to \(o.maxTokens) tokens each, greedy; medians:")
print("state | retrieve ms | first token ms | prefill ms | prompt tokens (kept) | decode tok/s | total ms")
for (name, rows) in [("cold", cold), ("warm", warm)] {
    let rate = rows.map { $0.decode > 0 ? Double($0.tokens) / ($0.decode / 1000) : 0 }
    print(String(format: "%-5@ | %11.1f | %14.1f | %10.1f | %8.0f (%4.0f)        | %12.1f | %8.1f", name,
                 median(rows.map(\.retrieve)), median(rows.map(\.first)), median(rows.map(\.prefill)),
                 median(rows.map { Double($0.prompt) }), median(rows.map { Double($0.kept) }), median(rate), median(rows.map(\.total))))
}
print(String(format: "cache hit: total %.1f ms median, %.1f ms max (retrieval included)", median(hits), hits.max()!))
try db.close()
