import ArgumentParser
import Engram
import EngramServer
import Foundation

struct Feedback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Judge an answer of `engram ask`: nudge the importance of the memories it cited.",
        discussion: """
            A good answer moves the importance i of each memory it cited a share r of the way up \
            to 1 (i + r·(1 − i)); a bad one a share r of the way down to 0 (i − r·i). r is \
            [ask] feedback_rate in engram.toml (default 0.2). Each answer takes feedback once; \
            `engram get ID` lists every adjustment of a memory. --keep-as-example saves the \
            question, the sources it cited and the answer as a worked example, shown to later \
            questions like it.
            """)

    @OptionGroup var options: DatabaseOptions

    @Argument(help: "The answer's id (`answerId` in `ask --json`, or the id `ask` prints).")
    var answerId: String

    @Flag(help: "Whether the answer was good or bad.")
    var verdict: VerdictFlag

    @Option(help: "A note kept with the adjustment.")
    var note: String?

    @Flag(name: .customLong("keep-as-example"), help: "Keep this (good) answer as a worked example for similar questions.")
    var keepAsExample = false

    enum VerdictFlag: String, EnumerableFlag {
        case good, bad
    }

    func validate() throws {
        if keepAsExample && verdict == .bad { throw ValidationError("--keep-as-example needs --good") }
        if let note, note.utf8.count > FeedbackRequest.maxNoteBytes {
            throw ValidationError("--note is longer than \(FeedbackRequest.maxNoteBytes) bytes")
        }
    }

    func run() async throws {
        CLI.bootstrap
        let request = FeedbackRequest(answerId: answerId, verdict: verdict == .good ? .good : .bad, note: note, keepAsExample: keepAsExample)
        let response = try await options.serve(.ragFeedback, request, readOnly: false) { try await $0.feedback(request) }
        if options.json {
            try CLI.printJSON(response)
            return
        }
        if response.adjusted.isEmpty { print("The answer cited no memory that still exists: no importance changed.") }
        for a in response.adjusted {
            print(String(format: "%@  importance %.4g → %.4g", a.id, a.from, a.to))
        }
        for id in response.missing { print("\(id)  (deleted since the answer: unchanged)") }
        if let example = response.exampleId { print("kept as the worked example \(example)") }
    }
}
