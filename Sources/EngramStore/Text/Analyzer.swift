import EngramBase
import Foundation

/// Turns text into the terms of the full-text index. The same analyser reads documents and
/// queries; its `descriptor` is stored with the index, so that a changed analyser rebuilds
/// the index instead of silently mismatching it.
///
/// Segmentation (on Unicode scalars):
/// - a *word* is a run of letters, digits and combining marks; an ideograph (Han, kana) is a
///   word of its own;
/// - words joined by `.`, `-`, `_`, `/` or `@` (and by `,` or `:` between digits) form one
///   *compound*, kept whole so that identifiers, versions and amounts stay findable
///   (`PUMP-7` → `pump-7`, `v2.3.1`, `1,234.56` plus `1234.56`); its words that contain a
///   letter are indexed too (`pump`), so that a part finds it as well;
/// - an apostrophe between letters stays inside the word (`don't`, `o'neil`);
/// - everything else (spaces, punctuation, symbols such as `$`) separates.
///
/// Each term is case-folded, NFC-normalised and (with `foldDiacritics`) stripped of
/// combining marks; single words then lose stop words and are stemmed (Snowball). Whole
/// compounds are neither stemmed nor stopped. Terms longer than `maxTermBytes` are dropped.
public struct TextAnalyzer: Sendable, Equatable {
    /// Bumped whenever segmentation or normalisation changes: the index is rebuilt.
    static let version = 1
    /// Longest term indexed, in UTF-8 bytes (longer runs are data, not words).
    public static let maxTermBytes = 100

    let language: String
    let stopWords: Set<String>
    let foldDiacritics: Bool

    public init(_ settings: TextSettings) {
        language = settings.language
        var stop = Set(settings.extraStopWords.map { $0.lowercased() })
        if settings.stopWords == .default, settings.language == "english" || settings.language == "none" {
            stop.formUnion(StopWords.english)
        }
        stopWords = stop
        foldDiacritics = settings.foldsDiacritics
    }

    /// What the index records of the analyser that built it.
    public var descriptor: String {
        "v\(Self.version) language=\(language) fold=\(foldDiacritics) stop=\(stopWords.sorted().joined(separator: ","))"
    }

    /// A worker for one thread at a time (it owns a stemmer).
    func session() throws -> AnalysisSession { try AnalysisSession(self) }

    /// The terms of `text` as the index sees them, in order (one-off use: each call makes
    /// its own stemmer).
    public func terms(_ text: String) throws -> [String] { try session().terms(text) }
}

/// Analyses text with a `TextAnalyzer`'s settings. Not thread-safe: one per thread or query.
final class AnalysisSession {
    let analyzer: TextAnalyzer
    private let stemmer: Stemmer?

    init(_ analyzer: TextAnalyzer) throws {
        self.analyzer = analyzer
        stemmer = analyzer.language == "none" ? nil : try Stemmer(language: analyzer.language)
    }

    /// The terms of `text`, in order (a document's length is their count).
    func terms(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var out: [String] = []
        var i = 0
        let n = scalars.count
        while i < n {
            let s = scalars[i]
            if Self.isIdeograph(s) {
                word(String(s), into: &out)
                i += 1
                continue
            }
            guard Self.isWordScalar(s) else {
                i += 1
                continue
            }
            // A compound: words joined by joiners.
            var runs: [Range<Int>] = []
            var j = i
            var compound = false
            while true {
                var k = j
                while k < n, Self.isWordScalar(scalars[k]), !Self.isIdeograph(scalars[k]) { k += 1 }
                runs.append(j..<k)
                guard k + 1 < n, Self.isWordScalar(scalars[k + 1]), !Self.isIdeograph(scalars[k + 1]) else { break }
                let joiner = Self.joiner(scalars[k], before: scalars[k - 1], after: scalars[k + 1])
                if joiner == .none { break }
                if joiner == .compound { compound = true }
                j = k + 1
            }
            let span = runs.first!.lowerBound..<runs.last!.upperBound
            i = span.upperBound
            if !compound {
                word(normalise(scalars[span]), into: &out)
                continue
            }
            let whole = normalise(scalars[span])
            if whole.utf8.count <= TextAnalyzer.maxTermBytes { out.append(whole) }
            let numeric = runs.allSatisfy { run in scalars[run].allSatisfy { $0.properties.numericType != nil } }
            if numeric {
                // 1,234.56 is also found as 1234.56.
                if whole.contains(",") { out.append(whole.replacingOccurrences(of: ",", with: "")) }
                continue
            }
            // The words with a letter (pump in pump-7, not 7).
            var start = runs[0].lowerBound
            for (index, run) in runs.enumerated() {
                let last = index + 1 == runs.count
                // An apostrophe joins the words on either side into one.
                if !last, scalars[run.upperBound] == "'" || scalars[run.upperBound] == "\u{2019}" { continue }
                let part = scalars[start..<run.upperBound]
                if part.contains(where: { $0.properties.isAlphabetic }) { word(normalise(part), into: &out) }
                if !last { start = runs[index + 1].lowerBound }
            }
        }
        return out
    }

    /// A single word: stop words are dropped, the rest stemmed.
    private func word(_ w: String, into out: inout [String]) {
        guard !w.isEmpty, w.utf8.count <= TextAnalyzer.maxTermBytes, !analyzer.stopWords.contains(w) else { return }
        out.append(stemmer?.stem(w) ?? w)
    }

    /// Case-folded, NFC (or, folding diacritics, without combining marks); `’` as `'`.
    private func normalise(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        if scalars.allSatisfy({ $0.isASCII }) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(scalars.count)
            for s in scalars {
                let v = UInt8(s.value)
                bytes.append(v >= 65 && v <= 90 ? v + 32 : v)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        var view = String.UnicodeScalarView()
        for s in scalars { view.append(s == "\u{2019}" ? "'" : s) }
        let lowered = String(view).lowercased()
        guard analyzer.foldDiacritics else { return lowered.precomposedStringWithCanonicalMapping }
        var folded = String.UnicodeScalarView()
        for s in lowered.decomposedStringWithCanonicalMapping.unicodeScalars
        where s.properties.generalCategory != .nonspacingMark {
            folded.append(s)
        }
        return String(folded).precomposedStringWithCanonicalMapping
    }

    private enum Joiner { case none, word, compound }

    /// What the scalar between two word scalars does.
    private static func joiner(_ s: Unicode.Scalar, before: Unicode.Scalar, after: Unicode.Scalar) -> Joiner {
        switch s {
        case ".", "-", "_", "/", "@": return .compound
        case ",", ":": return isDigit(before) && isDigit(after) ? .compound : .none
        case "'", "\u{2019}": return before.properties.isAlphabetic && after.properties.isAlphabetic ? .word : .none
        default: return .none
        }
    }

    private static func isDigit(_ s: Unicode.Scalar) -> Bool { s.properties.numericType == .decimal }

    private static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII {
            let v = s.value
            return (v >= 48 && v <= 57) || (v >= 65 && v <= 90) || (v >= 97 && v <= 122)
        }
        let p = s.properties
        if p.isAlphabetic || p.numericType != nil { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }

    /// Han ideographs and kana: each a word of its own (no spaces separate them).
    private static func isIdeograph(_ s: Unicode.Scalar) -> Bool {
        !s.isASCII && (s.properties.isIdeographic || (0x3040...0x30FF).contains(s.value))
    }
}
