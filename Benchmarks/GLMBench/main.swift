// engram-bench-glm: prompt processing and generation speed of EngramGLM on a GGUF model.
//
//   engram-bench-glm [--model PATH] [--threads 1,2] [--prompt-tokens 512] [--gen-tokens 128]
//                    [--repeat 2] [--json]
//
// Prompt processing: tokens/s evaluating a `--prompt-tokens` prompt from an empty cache.
// Generation: tokens/s of `--gen-tokens` single-token steps (greedy) after a short prompt.
// Each figure is the best of `--repeat` runs. Peak RSS is the process maximum at the end.
import EngramBase
import EngramGLM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var model: String?
    var threads: [Int] = [1, 2]
    var promptTokens = 512
    var genTokens = 128
    var repeats = 2
    var json = false
}

/// A count argument: a positive integer, else a usage error.
func positive(_ option: String, _ value: String?) -> Int {
    guard let value, let n = Int(value), n >= 1 else {
        FileHandle.standardError.write("engram-bench-glm: \(option) needs a positive integer, not \(value ?? "nothing")\n".data(using: .utf8)!)
        exit(2)
    }
    return n
}

func parse() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        switch a {
        case "--model": o.model = args.next()
        case "--threads": o.threads = (args.next() ?? "").split(separator: ",").map { positive("--threads", String($0)) }
        case "--prompt-tokens": o.promptTokens = positive(a, args.next())
        case "--gen-tokens": o.genTokens = positive(a, args.next())
        case "--repeat": o.repeats = positive(a, args.next())
        case "--json": o.json = true
        case "-h", "--help":
            print("usage: engram-bench-glm [--model PATH] [--threads 1,2] [--prompt-tokens 512] [--gen-tokens 128] [--repeat 2] [--json]")
            exit(0)
        default:
            FileHandle.standardError.write("engram-bench-glm: unknown argument \(a)\n".data(using: .utf8)!)
            exit(2)
        }
    }
    return o
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func peakRSSMegabytes() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

BLASCore.correctIfNeeded()
let options = parse()
do {
    let path = try GLMModelLocator.resolve(explicit: options.model)
    let model = try GLMModel(path: path)
    let tokenizer = try GLMTokenizer(file: model.file)
    let text = String(repeating: "The quick brown fox jumps over the lazy dog while the river runs to the sea, and memory keeps what matters. ", count: 64)
    let promptTokens = Array(tokenizer.encode(text).prefix(options.promptTokens))
    var results: [[String: Any]] = []
    for threads in options.threads {
        var bestPP = 0.0, bestTG = 0.0
        for _ in 0..<options.repeats {
            do { // one context alive at a time, as in an application
                let ctx = try GLMContext(model: model, threads: threads)
                let t0 = now()
                _ = try ctx.evaluate(promptTokens)
                bestPP = max(bestPP, Double(promptTokens.count) / (now() - t0))
            }

            let gen = try GLMContext(model: model, threads: threads)
            var logits = try gen.evaluate(Array(promptTokens.prefix(8)))
            let t1 = now()
            for _ in 0..<options.genTokens {
                var best = 0
                for i in logits.indices where logits[i] > logits[best] { best = i }
                logits = try gen.evaluate([Int32(best)], generating: true)
            }
            bestTG = max(bestTG, Double(options.genTokens) / (now() - t1))
        }
        results.append(["threads": threads, "pp_tokens_per_s": bestPP, "tg_tokens_per_s": bestTG])
        if !options.json {
            print(String(format: "engram  threads=%d  pp%d %.1f tok/s  tg%d %.1f tok/s",
                         threads, promptTokens.count, bestPP, options.genTokens, bestTG))
        }
    }
    let rss = peakRSSMegabytes()
    let fileMB = Double(model.file.fileSize) / 1_048_576
    if options.json {
        let out: [String: Any] = ["engine": "engram", "model": path, "results": results,
                                  "peak_rss_mb": rss, "model_file_mb": fileMB,
                                  "blas_core": BLASCore.choice.core, "simd": GLMKernels.simdVariant]
        let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    } else {
        print("engram  BLAS core \(BLASCore.choice), kernels \(GLMKernels.simdVariant)")
        print(String(format: "engram  peak RSS %.1f MB (model file %.1f MB, ratio %.2f)", rss, fileMB, rss / fileMB))
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
            let lines = status.split(separator: "\n").filter { $0.hasPrefix("RssAnon") || $0.hasPrefix("RssFile") || $0.hasPrefix("VmHWM") }
            print("engram  now: " + lines.map { $0.replacingOccurrences(of: "\t", with: " ") }.joined(separator: ", "))
        }
    }
} catch {
    FileHandle.standardError.write("engram-bench-glm: \(error)\n".data(using: .utf8)!)
    exit(1)
}
