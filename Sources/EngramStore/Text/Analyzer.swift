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
        var text = text
        return text.withUTF8 { terms(utf8: $0) }
    }

    /// The full-text document of `text`: its terms, counted.
    func document(_ text: String) -> TextIndex.Document { TextIndex.Document(terms: terms(text)) }

    /// One word run of a compound: its bytes, and what it holds.
    private struct Run {
        var range: Range<Int>
        var hasLetter: Bool
        var allDigits: Bool
        /// The run is joined to the next one by an apostrophe (one word across both).
        var apostropheAfter = false
    }

    private var runs: [Run] = []

    /// Segments valid UTF-8 (a Swift string's bytes), decoding scalars only where a byte is
    /// not ASCII.
    private func terms(utf8 b: UnsafeBufferPointer<UInt8>) -> [String] {
        var out: [String] = []
        let n = b.count
        var i = 0
        while i < n {
            let (s, length) = Self.scalar(at: i, in: b)
            switch Self.classify(s) {
            case .separator:
                i += length
                continue
            case .ideograph:
                word(String(Character(s)), into: &out)
                i += length
                continue
            case .word:
                break
            }
            // A compound: word runs joined by joiners.
            runs.removeAll(keepingCapacity: true)
            var ascii = true
            var compound = false
            var j = i
            while true {
                var k = j
                var hasLetter = false, allDigits = true
                var last = s
                while k < n {
                    let (c, l) = Self.scalar(at: k, in: b)
                    guard Self.classify(c) == .word else { break }
                    if !c.isASCII { ascii = false }
                    if Self.isLetter(c) { hasLetter = true }
                    if c.isASCII ? c.value < 48 || c.value > 57 : c.properties.numericType == nil { allDigits = false }
                    last = c
                    k += l
                }
                runs.append(Run(range: j..<k, hasLetter: hasLetter, allDigits: allDigits))
                guard k < n else { break }
                let (joinerScalar, joinerLength) = Self.scalar(at: k, in: b)
                guard k + joinerLength < n else { break }
                let (after, _) = Self.scalar(at: k + joinerLength, in: b)
                guard Self.classify(after) == .word else { break }
                let joiner = Self.joiner(joinerScalar, before: last, after: after)
                if joiner == .none { break }
                if joiner == .compound { compound = true } else { runs[runs.count - 1].apostropheAfter = true }
                if !joinerScalar.isASCII { ascii = false }
                j = k + joinerLength
            }
            let span = runs[0].range.lowerBound..<runs[runs.count - 1].range.upperBound
            i = span.upperBound
            if !compound {
                word(normalise(b, span, ascii: ascii), into: &out)
                continue
            }
            let whole = normalise(b, span, ascii: ascii)
            if whole.utf8.count <= TextAnalyzer.maxTermBytes { out.append(whole) }
            if runs.allSatisfy(\.allDigits) {
                // 1,234.56 is also found as 1234.56.
                if whole.utf8.contains(UInt8(ascii: ",")) { out.append(whole.replacingOccurrences(of: ",", with: "")) }
                continue
            }
            // The words with a letter (pump in pump-7, not 7); an apostrophe joins two runs.
            var start = runs[0].range.lowerBound
            var hasLetter = false
            for (index, run) in runs.enumerated() {
                hasLetter = hasLetter || run.hasLetter
                if run.apostropheAfter { continue }
                if hasLetter { word(normalise(b, start..<run.range.upperBound, ascii: ascii), into: &out) }
                if index + 1 < runs.count { start = runs[index + 1].range.lowerBound }
                hasLetter = false
            }
        }
        return out
    }

    /// The scalar starting at byte `i` of valid UTF-8, and its length in bytes.
    @inline(__always)
    private static func scalar(at i: Int, in b: UnsafeBufferPointer<UInt8>) -> (Unicode.Scalar, Int) {
        let b0 = UInt32(b[i])
        if b0 < 0x80 { return (Unicode.Scalar(UInt8(b0)), 1) }
        let value: UInt32, length: Int
        if b0 < 0xE0 {
            value = (b0 & 0x1F) << 6 | UInt32(b[i + 1] & 0x3F)
            length = 2
        } else if b0 < 0xF0 {
            value = (b0 & 0x0F) << 12 | UInt32(b[i + 1] & 0x3F) << 6 | UInt32(b[i + 2] & 0x3F)
            length = 3
        } else {
            value = (b0 & 0x07) << 18 | UInt32(b[i + 1] & 0x3F) << 12 | UInt32(b[i + 2] & 0x3F) << 6 | UInt32(b[i + 3] & 0x3F)
            length = 4
        }
        return (Unicode.Scalar(value) ?? "\u{FFFD}", length)
    }

    private enum ScalarClass { case separator, word, ideograph }

    @inline(__always)
    private static func classify(_ s: Unicode.Scalar) -> ScalarClass {
        if s.isASCII {
            let v = s.value
            return (v >= 48 && v <= 57) || (v >= 65 && v <= 90) || (v >= 97 && v <= 122) ? .word : .separator
        }
        if isIdeograph(s) { return .ideograph }
        return isWordScalar(s) ? .word : .separator
    }

    @inline(__always)
    private static func isLetter(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII { return (s.value | 0x20) >= 97 && (s.value | 0x20) <= 122 }
        return s.properties.isAlphabetic
    }

    /// The bytes `range` of `b` as a term: case-folded, NFC (or, folding diacritics, without
    /// combining marks); `’` as `'`.
    private func normalise(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, ascii: Bool) -> String {
        if ascii {
            return String(unsafeUninitializedCapacity: range.count) { out in
                for (o, i) in range.enumerated() {
                    let v = b[i]
                    out[o] = v >= 65 && v <= 90 ? v + 32 : v
                }
                return range.count
            }
        }
        let raw = String(decoding: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self)
        let lowered = raw.replacingOccurrences(of: "\u{2019}", with: "'").lowercased()
        guard analyzer.foldDiacritics else { return lowered.precomposedStringWithCanonicalMapping }
        var folded = String.UnicodeScalarView()
        for s in lowered.decomposedStringWithCanonicalMapping.unicodeScalars
        where s.properties.generalCategory != .nonspacingMark {
            folded.append(s)
        }
        return String(folded).precomposedStringWithCanonicalMapping
    }

    /// A single word: stop words are dropped, the rest stemmed.
    private func word(_ w: String, into out: inout [String]) {
        guard !w.isEmpty, w.utf8.count <= TextAnalyzer.maxTermBytes, !analyzer.stopWords.contains(w) else { return }
        out.append(stemmer?.stem(w) ?? w)
    }

    private enum Joiner { case none, word, compound }

    /// What the scalar between two word scalars does.
    private static func joiner(_ s: Unicode.Scalar, before: Unicode.Scalar, after: Unicode.Scalar) -> Joiner {
        switch s {
        case ".", "-", "_", "/", "@": return .compound
        case ",", ":": return isDigit(before) && isDigit(after) ? .compound : .none
        case "'", "\u{2019}": return isLetter(before) && isLetter(after) ? .word : .none
        default: return .none
        }
    }

    private static func isDigit(_ s: Unicode.Scalar) -> Bool {
        s.isASCII ? s.value >= 48 && s.value <= 57 : s.properties.numericType == .decimal
    }

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

/// Analysis sessions kept for reuse, so that each keeps its stem cache warm from one batch
/// or query to the next (a fresh session stems every word anew: most of the cost of
/// analysing a batch of short texts).
///
/// Thread-safe: the lock guards the idle list, and a session is lent to one caller at a time.
final class AnalysisPool: @unchecked Sendable {
    let analyzer: TextAnalyzer
    private let lock = NSLock()
    private var idle: [AnalysisSession] = []

    /// Idle sessions kept at most (writers' analysis threads and concurrent queries).
    static let idleLimit = 8

    init(_ analyzer: TextAnalyzer) { self.analyzer = analyzer }

    /// A session no one else uses until it is given back (`giveBack`).
    func lend() throws -> AnalysisSession {
        try lock.withLock { idle.popLast() } ?? analyzer.session()
    }

    func giveBack(_ session: AnalysisSession) {
        lock.withLock { if idle.count < Self.idleLimit { idle.append(session) } }
    }

    /// Runs `body` with a lent session.
    func withSession<T>(_ body: (AnalysisSession) throws -> T) throws -> T {
        let session = try lend()
        defer { giveBack(session) }
        return try body(session)
    }
}
