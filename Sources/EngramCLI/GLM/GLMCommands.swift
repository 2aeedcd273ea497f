import ArgumentParser
import Engram
import EngramGLM
import Foundation

/// Options shared by the commands that load a GGUF model.
struct GLMModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Path of the GGUF model file.",
        discussion: "Default: $ENGRAM_GLM_MODEL, else $ENGRAM_MODELS/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf, else Data/models/smollm2/… found above the current directory or the executable (run Tools/setup-models.sh to download it).",
        valueName: "path"))
    var model: String?

    func resolvedPath() throws -> String { try GLMModelLocator.resolve(explicit: model) }
}

/// The length and sampling of a generation, shared by `generate` and `ask` (whose default
/// temperatures differ: 0.8 for free text, 0.2 for answers from sources).
struct SamplingOptions: ParsableArguments {
    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate: at least 1, at most the context (the model's, at most \(GLMGenerator.defaultContextLimit) tokens), which the prompt shares. Default: 256 (for ask, [ask] max_tokens).")
    var maxTokens: Int?

    @Option(name: .long, help: "Sampling temperature (≥ 0); 0 means greedy (always the most likely token). Default: 0.8 for generate; for ask, [ask] temperature, 0.2.")
    var temperature: Float?

    @Option(name: .customLong("top-k"), help: "Sample only among the k most likely tokens (0 disables).")
    var topK = 40

    @Option(name: .customLong("top-p"), help: "Sample only among the most likely tokens whose probabilities add up to p, in (0, 1] (1 disables).")
    var topP: Float = 0.95

    @Option(name: .customLong("min-p"), help: "Drop tokens less likely than min-p times the most likely one, in [0, 1] (0 disables).")
    var minP: Float = 0.05

    @Option(name: .customLong("repeat-penalty"), help: "Penalty for repeating recent tokens, > 0 (1 disables).")
    var repeatPenalty: Float = 1.0

    @Option(name: .long, help: "Random seed, for reproducible sampling.")
    var seed: UInt64?

    @Option(name: .long, help: ArgumentHelp("Stop before this string (repeatable).", valueName: "text"))
    var stop: [String] = []

    /// The options as settings, over `defaults` for the length and temperature not given.
    func settings(over defaults: GenerationSettings) -> GenerationSettings {
        var s = defaults
        s.maxTokens = maxTokens ?? defaults.maxTokens
        s.temperature = temperature ?? defaults.temperature
        s.topK = topK
        s.topP = topP
        s.minP = minP
        s.repetitionPenalty = repeatPenalty
        s.seed = seed
        s.stop = stop
        return s
    }

    /// The ranges of GLMSamplingParameters, named by their options.
    func validate() throws {
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if let temperature, !(temperature.isFinite && temperature >= 0) {
            throw ValidationError("--temperature must be a finite number ≥ 0 (0 is greedy), not \(temperature)")
        }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0 (0 disables it), not \(topK)") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1] (1 disables it), not \(topP)") }
        guard minP >= 0, minP <= 1 else { throw ValidationError("--min-p must be in [0, 1] (0 disables it), not \(minP)") }
        guard repeatPenalty.isFinite, repeatPenalty > 0 else {
            throw ValidationError("--repeat-penalty must be a finite number > 0 (1 disables it), not \(repeatPenalty)")
        }
    }
}

extension GLMThreading {
    /// Checks a `--threads` value (nil: the default).
    static func validate(_ threads: Int?) throws {
        if let threads, threads < 1 || threads > GLMThreading.maximumThreadCount {
            throw ValidationError("""
                --threads must be in 1...\(GLMThreading.maximumThreadCount) (at most \(GLMThreading.maximumThreadsPerCore) per core; \
                this machine has \(GLMThreading.defaultThreadCount)), not \(threads)
                """)
        }
    }
}

/// `engram generate "prompt"`: streams a completion from the local model.
struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with the local GGUF language model, streaming it to the terminal.",
        discussion: "Without --chat the prompt is used as raw text (control tokens such as <|im_start|> in it are recognised). With --chat it becomes a user message formatted with the model's chat template.")

    @Argument(help: "The prompt text.")
    var prompt: String

    @Flag(name: .long, help: "Format the prompt as a chat turn with the model's chat template.")
    var chat = false

    @Option(name: .long, help: ArgumentHelp("System message for --chat (default: the template's own, if any).", valueName: "text"))
    var system: String?

    @Option(name: .long, help: ArgumentHelp("Chat template to use instead of the model's: chatml, glm4 or chatglm3.", valueName: "name"))
    var template: String?

    @OptionGroup var modelOptions: GLMModelOptions

    @OptionGroup var sampling: SamplingOptions

    @Option(name: .long, help: "Threads for the kernels, at most \(GLMThreading.maximumThreadsPerCore) per core (default: number of cores).")
    var threads: Int?

    @Flag(name: .long, help: "Print one JSON object at the end: text, generated and prompt token ids, usage, timings.")
    var json = false

    func validate() throws {
        try GLMThreading.validate(threads)
        if let template, GLMChatTemplate(name: template) == nil {
            throw ValidationError("unknown --template \(template) (chatml, glm4, chatglm3)")
        }
    }

    func run() async throws {
        let model = try GLMModel(path: modelOptions.resolvedPath())
        let generator = try GLMGenerator(model: model, threads: threads ?? GLMThreading.defaultThreadCount,
                                         chatTemplate: template.flatMap(GLMChatTemplate.init(name:)))
        var defaults = GenerationSettings()
        defaults.temperature = 0.8
        let settings = sampling.settings(over: defaults)
        guard settings.maxTokens <= generator.contextSize else {
            throw CLIError("--max-tokens \(settings.maxTokens) is larger than the context of \(generator.contextSize) tokens, which the prompt shares")
        }
        let options = GLMGenerationOptions(maxTokens: settings.maxTokens, sampling: GLMSamplingParameters(settings),
                                           stopStrings: settings.stop)
        let input: GLMPrompt
        if chat {
            var messages: [GLMChatMessage] = []
            if let system { messages.append(GLMChatMessage(.system, system)) }
            messages.append(GLMChatMessage(.user, prompt))
            input = .chat(messages)
        } else {
            input = .text(prompt, special: true)
        }
        var result: GLMGenerationResult?
        for try await event in generator.stream(input, options: options) {
            switch event {
            case .piece(let piece):
                if !json { FileHandle.standardOutput.write(Data(piece.text.utf8)) }
            case .finished(let r):
                result = r
            }
        }
        guard let result else { return }
        if json {
            print(try GLMJSON.encode(result))
        } else {
            // Through the same unbuffered handle as the pieces, so it lands before the stats.
            FileHandle.standardOutput.write(Data("\n".utf8))
            let t = result.timings
            let stats = String(format: "[%d prompt tokens (%d cached) %.1f tok/s, %d generated %.1f tok/s, ",
                               result.usage.promptTokens, result.usage.cachedPromptTokens, t.promptTokensPerSecond,
                               result.usage.completionTokens, t.generationTokensPerSecond)
            FileHandle.standardError.write(Data((stats + result.finishReason.rawValue + "]\n").utf8))
        }
    }
}

/// JSON output of `generate --json`.
enum GLMJSON {
    struct Output: Encodable {
        let text: String
        let tokens: [Int32]
        let promptTokens: [Int32]
        let finishReason: String
        let usage: GLMUsage
        let timings: GLMTimings
    }

    static func encode(_ r: GLMGenerationResult) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let out = Output(text: r.text, tokens: r.tokens, promptTokens: r.promptTokens,
                         finishReason: r.finishReason.rawValue, usage: r.usage, timings: r.timings)
        return String(decoding: try encoder.encode(out), as: UTF8.self)
    }
}

/// `engram tokenize "text"`: prints the token ids of a text.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of a text under the model's tokenizer (no BOS is added).")

    @Argument(help: "The text to tokenize.")
    var text: String

    @Flag(name: .long, help: "Recognise control tokens such as <|im_start|> in the text (otherwise they are plain text).")
    var special = false

    @Flag(name: .long, help: "Print one token per line: id and the text it stands for.")
    var verbose = false

    @OptionGroup var modelOptions: GLMModelOptions

    func run() throws {
        let file = try GGUFFile(path: modelOptions.resolvedPath())
        let tokenizer = try GLMTokenizer(file: file)
        let ids = tokenizer.encode(text, special: special)
        if verbose {
            for id in ids {
                let piece = String(decoding: tokenizer.tokenBytes(id, special: true), as: UTF8.self)
                print("\(id)\t\(piece.debugDescription)")
            }
        } else {
            print("[" + ids.map(String.init).joined(separator: ", ") + "]")
        }
    }
}

/// `engram model info PATH`.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Inspect GGUF model files.",
        subcommands: [GLMModelInfoCommand.self])
}

struct GLMModelInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print a GGUF file's metadata and a summary of its tensors.")

    @Argument(help: "Path of the GGUF file (default: the model found as for `engram generate`).")
    var path: String?

    @Flag(name: .long, help: "List every tensor with its shape and type.")
    var tensors = false

    func run() throws {
        let file = try GGUFFile(path: GLMModelLocator.resolve(explicit: path))
        print("file: \(file.path)")
        print("CPU kernels: \(GLMKernels.simdVariant); OpenBLAS core \(BLASCore.choice)")
        print("GGUF version \(file.version), \(file.metadataKeys.count) metadata keys, \(file.tensors.count) tensors, alignment \(file.alignment)")
        print("\nmetadata:")
        for key in file.metadataKeys {
            print("  \(key) = \(file.metadata[key]!.description.replacingOccurrences(of: "\n", with: "\\n"))")
        }
        do {
            let config = try GLMModelConfig(file: file)
            print("\nmodel: \(config.architecture.rawValue), \(config.blockCount) blocks, \(config.embeddingLength) wide, "
                + "\(config.headCount) heads / \(config.headCountKV) KV heads (head dim \(config.headDim)), "
                + "FFN \(config.feedForwardLength), RoPE \(config.ropeDimensions) dims base \(config.ropeFreqBase), context \(config.contextLength)")
        } catch {
            print("\nmodel: cannot be run: \(error)")
        }
        var byType: [GGMLType: (count: Int, elements: Int, bytes: Int)] = [:]
        for t in file.tensors {
            var e = byType[t.type] ?? (0, 0, 0)
            e.count += 1
            e.elements += t.elementCount
            e.bytes += t.byteCount
            byType[t.type] = e
        }
        let total = file.tensors.reduce(0) { $0 + $1.elementCount }
        print("\ntensors: \(file.tensors.count), \(total) parameters")
        for (type, e) in byType.sorted(by: { $0.value.bytes > $1.value.bytes }) {
            let name = type.description.padding(toLength: 5, withPad: " ", startingAt: 0)
            print("  \(name)" + String(format: " %4d tensors %12d values %9.1f MB", e.count, e.elements, Double(e.bytes) / 1_048_576))
        }
        if tensors {
            for t in file.tensors {
                print("  \(t.name) \(t.dims) \(t.type)")
            }
        }
    }
}
