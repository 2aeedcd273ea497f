// engram-bench-embed: sentence-embedding throughput and latency of EngramEmbed's MiniLM.
//
//   engram-bench-embed [--model DIR] [--sentences FILE] [--threads N] [--count N] [--batches 1,8,32,128] [--json]
//   engram-bench-embed [--count N] --write-sentences FILE
//
// Sentences come from FILE (one per line) or from the built-in generator (~20 words each,
// the same generator Benchmarks/embed-bench.sh uses for its Python baseline). For batch
// sizes 1, 8, 32 and 128 it embeds `count` sentences in calls of that size after a warm-up
// and prints sentences per second; then the median latency of embedding one sentence.
import EngramBase
import EngramEmbed
import Foundation

struct Options {
    var model: String?
    var sentencesFile: String?
    var threads: Int?
    var count = 256
    var json = false
    var batches = [1, 8, 32, 128]
}

/// A count argument: a positive integer, else a usage error.
func positive(_ option: String, _ value: String?) -> Int {
    guard let value, let n = Int(value), n >= 1 else {
        FileHandle.standardError.write(Data("engram-bench-embed: \(option) needs a positive integer, not \(value ?? "nothing")\n".utf8))
        exit(2)
    }
    return n
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        switch a {
        case "--model": o.model = args.next()
        case "--sentences": o.sentencesFile = args.next()
        case "--threads": o.threads = positive(a, args.next())
        case "--count": o.count = positive(a, args.next())
        case "--batches": o.batches = (args.next() ?? "").split(separator: ",").map { positive(a, String($0)) }
        case "--json": o.json = true
        case "--write-sentences":
            // Writes the generated sentences, one per line, and exits (for the Python baseline).
            let path = args.next() ?? "/dev/stdout"
            try? (generatedSentences(o.count).joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
            exit(0)
        default:
            FileHandle.standardError.write(Data("usage: engram-bench-embed [--model DIR] [--sentences FILE] [--threads N] [--count N] [--batches 1,8,32,128] [--json]\n".utf8))
            exit(2)
        }
    }
    return o
}

/// Deterministic ~20-word English sentences (a fixed linear congruential generator, so the
/// Python baseline can produce the very same list).
func generatedSentences(_ n: Int) -> [String] {
    let subjects = ["The old librarian", "A young engineer", "My neighbour's cat", "The city council", "Our research team",
                    "A tired traveller", "The small bakery", "Every student", "The new manager", "A curious child"]
    let verbs = ["carefully reviewed", "quickly repaired", "happily described", "secretly moved", "patiently explained",
                 "proudly presented", "slowly painted", "loudly criticised", "gently returned", "finally opened"]
    let objects = ["the broken wooden bridge", "a long list of questions", "the annual budget report", "an ancient map of the river",
                   "the noisy kitchen machine", "a bright red umbrella", "the forgotten garden gate", "a collection of rare stamps"]
    let tails = ["before the heavy rain started in the late afternoon", "while everyone else was waiting outside the station",
                 "because the deadline for the project was tomorrow morning", "after a short walk along the quiet northern beach",
                 "during the busy market day in the town square", "without telling anyone about the unusual plan"]
    let codas = ["as everybody expected", "once again", "to our great surprise", "for the very first time", "as usual"]
    var state: UInt64 = 12345
    func next(_ k: Int) -> Int {
        state = (state &* 6364136223846793005 &+ 1442695040888963407)
        return Int((state >> 33) % UInt64(k))
    }
    return (0..<n).map { _ in
        "\(subjects[next(subjects.count)]) \(verbs[next(verbs.count)]) \(objects[next(objects.count)]) \(tails[next(tails.count)]), \(codas[next(codas.count)])."
    }
}

func processCPU() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

BLASCore.correctIfNeeded()
let options = parseOptions()
do {
    let directory = try EmbedderModelLocator.locate(explicit: options.model)
    let loadStart = now()
    let embedder = try MiniLMEmbedder(modelDirectory: directory, threads: options.threads, maxBatch: 128)
    let loadSeconds = now() - loadStart
    let sentences: [String]
    if let file = options.sentencesFile {
        sentences = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        guard !sentences.isEmpty else {
            FileHandle.standardError.write(Data("engram-bench-embed: \(file) holds no sentences\n".utf8))
            exit(2)
        }
    } else {
        sentences = generatedSentences(max(options.count, 128))
    }
    let tokenCounts = sentences.map { embedder.tokenizer.encode($0).count }
    let meanTokens = Double(tokenCounts.reduce(0, +)) / Double(tokenCounts.count)
    let meanWords = Double(sentences.map { $0.split(separator: " ").count }.reduce(0, +)) / Double(sentences.count)

    // Warm-up: page in the weights, start OpenBLAS's threads.
    _ = embedder.embedSynchronously(Array(sentences.prefix(32)))

    var results: [(batch: Int, perSecond: Double, cpuMs: Double)] = []
    for batch in options.batches {
        let total = batch == 1 ? min(options.count, 64) : max(options.count, batch) / batch * batch
        var index = 0
        let start = now(), cpuStart = processCPU()
        while index < total {
            let group = (0..<batch).map { sentences[(index + $0) % sentences.count] }
            _ = embedder.embedSynchronously(group)
            index += batch
        }
        let elapsed = now() - start
        results.append((batch, Double(total) / elapsed, (processCPU() - cpuStart) * 1000 / Double(total)))
    }
    var latencies: [Double] = []
    for i in 0..<50 {
        let start = now()
        _ = embedder.embedSynchronously([sentences[i % sentences.count]])
        latencies.append(now() - start)
    }
    latencies.sort()
    let medianMs = latencies[latencies.count / 2] * 1000

    if options.json {
        let object: [String: Any] = [
            "implementation": "engram-swift",
            "threads": embedder.threads,
            "sentences": sentences.count,
            "mean_tokens": meanTokens,
            "mean_words": meanWords,
            "load_seconds": loadSeconds,
            "throughput": Dictionary(uniqueKeysWithValues: results.map { (String($0.batch), $0.perSecond) }),
            "cpu_ms_per_sentence": Dictionary(uniqueKeysWithValues: results.map { (String($0.batch), $0.cpuMs) }),
            "latency_ms": medianMs,
            "blas_core": BLASCore.choice.core,
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    } else {
        print("engram-bench-embed: \(embedder.modelIdentifier), \(embedder.threads) worker thread(s), model loaded in \(String(format: "%.2f", loadSeconds)) s")
        print("sentences: \(sentences.count), mean \(String(format: "%.1f", meanWords)) words / \(String(format: "%.1f", meanTokens)) tokens")
        for r in results {
            print("batch \(String(r.batch).padding(toLength: 4, withPad: " ", startingAt: 0)) \(String(format: "%8.1f", r.perSecond)) sentences/s"
                + "  (\(String(format: "%.2f", r.cpuMs)) ms CPU per sentence)")
        }
        print("single-sentence latency (median of 50): \(String(format: "%.2f", medianMs)) ms")
    }
} catch {
    FileHandle.standardError.write(Data("engram-bench-embed: \(error)\n".utf8))
    exit(1)
}
