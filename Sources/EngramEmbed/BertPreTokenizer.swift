import Foundation

/// BERT's basic text normalisation and word splitting, as `tokenizer.json` describes it with
/// a `BertNormalizer` and a `BertPreTokenizer`.
///
/// Steps, on Unicode scalars:
/// 1. clean text: drop U+0000, U+FFFD and control characters (general categories Cc, Cf, Co,
///    Cs, except tab, newline and carriage return; unassigned scalars are kept, as the
///    reference tokenizer keeps them); map every whitespace to a space;
/// 2. put spaces around CJK ideographs so each becomes its own word;
/// 3. strip accents (canonical decomposition, then drop non-spacing marks), when enabled;
/// 4. lower-case each scalar with its full Unicode lower-case mapping;
/// 5. split on whitespace (dropped) and on punctuation (each punctuation scalar is a word).
///
/// Categories are those of Unicode 8.0, as in the reference tokenizer (see `inReferenceTables`).
public struct BertPreTokenizer: Sendable, Equatable {
    public var cleanText: Bool
    public var handleChineseChars: Bool
    public var stripAccents: Bool
    public var lowercase: Bool

    /// - Parameter stripAccents: `nil` means "same as `lowercase`", as in `tokenizer.json`.
    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents ?? lowercase
        self.lowercase = lowercase
    }

    /// The normalised text (steps 1–4).
    public func normalize(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        normalize(text, into: &out)
        return String(out)
    }

    /// Words after normalisation and splitting (steps 1–5).
    public func words(_ text: String) -> [String] {
        var normalized = String.UnicodeScalarView()
        normalize(text, into: &normalized)
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() {
            if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
        }
        for s in normalized {
            if Self.isWhitespace(s) {
                flush()
            } else if Self.isPunctuation(s) {
                flush()
                words.append(String(s))
            } else {
                current.append(s)
            }
        }
        flush()
        return words
    }

    private func normalize(_ text: String, into out: inout String.UnicodeScalarView) {
        var stage = String.UnicodeScalarView()
        var allASCII = true
        for s in text.unicodeScalars {
            if cleanText {
                if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
                if Self.isWhitespace(s) { stage.append(" "); continue }
            }
            if handleChineseChars && Self.isChineseChar(s) {
                stage.append(" "); stage.append(s); stage.append(" ")
            } else {
                stage.append(s)
            }
            if s.value >= 0x80 { allASCII = false }
        }
        var scalars: String.UnicodeScalarView = stage
        if stripAccents && !allASCII {
            let decomposed = String(stage).decomposedStringWithCanonicalMapping
            scalars = String.UnicodeScalarView()
            for s in decomposed.unicodeScalars where !Self.isNonspacingMark(s) {
                scalars.append(s)
            }
        }
        if lowercase {
            for s in scalars {
                if s.value < 0x80 {
                    out.append((0x41...0x5A).contains(s.value) ? Unicode.Scalar(s.value + 0x20)! : s)
                } else {
                    out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
                }
            }
        } else {
            out.append(contentsOf: scalars)
        }
    }

    /// Tab, newline, carriage return and every scalar with the Unicode White_Space property.
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x20, 0x09, 0x0A, 0x0D: return true
        case 0..<0x80: return false
        default: return s.properties.isWhitespace
        }
    }

    /// General categories Cc, Cf, Co, Cs, except tab, newline and carriage return
    /// (which count as whitespace).
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09, 0x0A, 0x0D: return false
        case 0x20..<0x7F: return false
        default:
            switch s.properties.generalCategory {
            case .control, .format, .privateUse, .surrogate: return inReferenceTables(s)
            default: return false
            }
        }
    }

    /// Whether the scalar was assigned by Unicode 8.0. The reference tokenizer (Hugging Face
    /// `tokenizers`, which sentence-transformers uses) classifies control, punctuation and
    /// non-spacing-mark scalars with Unicode 8.0 tables, so scalars added later are ordinary
    /// letters to it; matching its token ids exactly means doing the same.
    @inline(__always)
    static func inReferenceTables(_ s: Unicode.Scalar) -> Bool {
        guard let age = s.properties.age else { return false }
        return age.major < 8 || (age.major == 8 && age.minor == 0)
    }

    /// Scalars whose category changed after Unicode 8.0, with their Unicode 8.0 class.
    static let punctuationInUnicode8: Set<UInt32> = [0x166D, 0x111C9]
    static let nonspacingMarkInUnicode8: Set<UInt32> = [0x1734, 0x1171E]
    static let notNonspacingMarkInUnicode8: Set<UInt32> = [0x1885, 0x1886, 0xA9BD, 0x111C9]

    /// General category Mn as of Unicode 8.0 (removed when stripping accents).
    static func isNonspacingMark(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x300 { return false }
        if nonspacingMarkInUnicode8.contains(s.value) { return true }
        return s.properties.generalCategory == .nonspacingMark && inReferenceTables(s)
            && !notNonspacingMarkInUnicode8.contains(s.value)
    }

    /// ASCII punctuation (which includes symbols such as `$`, `+`, `<`, `^`, `` ` ``, `|`, `~`)
    /// and every scalar in a Unicode punctuation category (Pc, Pd, Ps, Pe, Pi, Pf, Po).
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v) || (0x7B...0x7E).contains(v) {
            return true
        }
        if v < 0x80 { return false }
        if punctuationInUnicode8.contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return inReferenceTables(s)
        default:
            return false
        }
    }

    /// CJK Unified Ideographs and their extensions and compatibility blocks, as BERT defines them.
    static func isChineseChar(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
