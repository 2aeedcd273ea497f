import EngramBase
import Foundation

/// The texts of the prompt of `ask`, kept as data: `system.txt` (the system message) and
/// `question.txt` (the user turn), with `{{name}}` placeholders filled at each question. They
/// come from `Data/prompts/` or from a directory the settings name, so that a deployment can
/// change the wording without a build.
public struct PromptTemplates: Sendable, Equatable {
    public var system: String
    public var question: String

    /// Placeholders the question template may use.
    public static let questionPlaceholders: Set<String> = ["sources", "question", "today"]
    /// Placeholders the system template may use.
    public static let systemPlaceholders: Set<String> = ["today"]

    public init(system: String, question: String) throws {
        try Self.check(system, "system.txt", allowed: Self.systemPlaceholders)
        try Self.check(question, "question.txt", allowed: Self.questionPlaceholders)
        guard Self.placeholders(in: question).isSuperset(of: ["sources", "question"]) else {
            throw EngramError(.invalidArgument, "the prompt template question.txt must use {{sources}} and {{question}}")
        }
        self.system = system
        self.question = question
    }

    /// Reads `system.txt` and `question.txt` from `directory`.
    public init(directory: URL) throws {
        func read(_ name: String) throws -> String {
            let url = directory.appendingPathComponent(name)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                throw EngramError(.failedPrecondition, "cannot read the prompt template \(url.path)")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try self.init(system: try read("system.txt"), question: try read("question.txt"))
    }

    /// The directory of the templates: `explicit`, else `$ENGRAM_PROMPTS`, else `Data/prompts`
    /// above the current directory or the executable.
    /// - Throws: `EngramError` `.notFound` naming what was searched.
    public static func locate(explicit: String? = nil,
                              environment: [String: String] = ProcessInfo.processInfo.environment,
                              currentDirectory: String = FileManager.default.currentDirectoryPath,
                              executablePath: String? = Bundle.main.executablePath) throws -> URL {
        func usable(_ url: URL) -> Bool { FileManager.default.fileExists(atPath: url.appendingPathComponent("question.txt").path) }
        for given in [explicit, environment["ENGRAM_PROMPTS"]] {
            guard let given, !given.isEmpty else { continue }
            let url = URL(fileURLWithPath: given, relativeTo: URL(fileURLWithPath: currentDirectory, isDirectory: true)).standardizedFileURL
            guard usable(url) else {
                throw EngramError(.notFound, "\(url.path) holds no prompt templates (system.txt and question.txt)")
            }
            return url
        }
        if let found = DataLocator.searchUpward("Data/prompts", currentDirectory: currentDirectory, executablePath: executablePath,
                                                usable: usable) {
            return found
        }
        throw EngramError(.notFound, "no prompt templates found: Data/prompts is not above \(currentDirectory) or the executable; set ENGRAM_PROMPTS to a directory holding system.txt and question.txt")
    }

    /// `template` with each `{{name}}` replaced by `values[name]`.
    public static func fill(_ template: String, _ values: [String: String]) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            out += rest[..<open.lowerBound]
            let name = String(rest[open.upperBound..<close.lowerBound])
            out += values[name] ?? ""
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    /// The `{{name}}` placeholders of `template`.
    static func placeholders(in template: String) -> Set<String> {
        var names = Set<String>()
        var rest = Substring(template)
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            names.insert(String(rest[open.upperBound..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return names
    }

    private static func check(_ template: String, _ file: String, allowed: Set<String>) throws {
        guard !template.isEmpty else { throw EngramError(.invalidArgument, "the prompt template \(file) is empty") }
        let unknown = placeholders(in: template).subtracting(allowed)
        guard unknown.isEmpty else {
            throw EngramError(.invalidArgument, "the prompt template \(file) uses unknown placeholders \(unknown.sorted().map { "{{\($0)}}" }.joined(separator: ", ")) (known: \(allowed.sorted().map { "{{\($0)}}" }.joined(separator: ", ")))")
        }
    }
}
