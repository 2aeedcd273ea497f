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
            for s in decomposed.unicodeScalars where s.properties.generalCategory != .nonspacingMark {
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
            case .control, .format, .privateUse, .surrogate: return true
            default: return false
            }
        }
    }

    /// ASCII punctuation (which includes symbols such as `$`, `+`, `<`, `^`, `` ` ``, `|`, `~`)
    /// and every scalar in a Unicode punctuation category (Pc, Pd, Ps, Pe, Pi, Pf, Po).
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v) || (0x7B...0x7E).contains(v) {
            return true
        }
        if v < 0x80 { return false }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
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
