/// The regex-based pre-tokenizers of byte-level BPE vocabularies, written as hand-made
/// matchers over Unicode scalars (no regex engine), selected by `tokenizer.ggml.pre`.
public enum PreTokenizer: Sendable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// Every digit `\p{N}` split off first, then `gpt2`.
    case smollm
    /// `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` (llama3, llama-bpe, glm4, chatglm-bpe).
    case llama3

    /// The pre-tokenizer for a `tokenizer.ggml.pre` value, or nil when unknown.
    public init?(name: String) {
        switch name {
        case "gpt-2", "gpt2", "default": self = .gpt2
        case "smollm": self = .smollm
        case "llama3", "llama-bpe", "llama-v3", "glm4", "chatglm-bpe", "chatglm4": self = .llama3
        default: return nil
        }
    }

    /// Splits `text` into pieces; concatenated, the pieces give back `text`.
    public func split(_ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        var out: [String] = []
        func emit(_ r: Range<Int>) {
            var str = String.UnicodeScalarView()
            str.append(contentsOf: s[r])
            out.append(String(str))
        }
        switch self {
        case .gpt2:
            for r in PreTokenizer.gpt2Ranges(s, 0..<s.count) { emit(r) }
        case .llama3:
            for r in PreTokenizer.llama3Ranges(s, 0..<s.count) { emit(r) }
        case .smollm:
            var i = 0, runStart = 0
            while i < s.count {
                if s[i].isNumber {
                    for r in PreTokenizer.gpt2Ranges(s, runStart..<i) { emit(r) }
                    emit(i..<i + 1)
                    runStart = i + 1
                }
                i += 1
            }
            for r in PreTokenizer.gpt2Ranges(s, runStart..<s.count) { emit(r) }
        }
        return out
    }

    /// The end of the run of scalars from `j` (before `n`) that satisfy `pred`.
    private static func scan(_ s: [Unicode.Scalar], from j: Int, to n: Int, while pred: (Unicode.Scalar) -> Bool) -> Int {
        var k = j
        while k < n && pred(s[k]) { k += 1 }
        return k
    }

    private static func gpt2Ranges(_ s: [Unicode.Scalar], _ range: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = range.lowerBound
        let n = range.upperBound
        func run(from j: Int, while pred: (Unicode.Scalar) -> Bool) -> Int { scan(s, from: j, to: n, while: pred) }
        while i < n {
            let c = s[i]
            var end = i + 1
            if c == "'", let e = contraction(s, i, n, caseInsensitive: false) {
                end = e
            } else if c.isLetter || (c == " " && i + 1 < n && s[i + 1].isLetter) {
                end = run(from: c == " " ? i + 1 : i, while: \.isLetter)
            } else if c.isNumber || (c == " " && i + 1 < n && s[i + 1].isNumber) {
                end = run(from: c == " " ? i + 1 : i, while: \.isNumber)
            } else if c.isOther || (c == " " && i + 1 < n && s[i + 1].isOther) {
                end = run(from: c == " " ? i + 1 : i, while: \.isOther)
            } else if c.isSpace {
                end = whitespace(s, i, n)
            }
            out.append(i..<end)
            i = end
        }
        return out
    }

    private static func llama3Ranges(_ s: [Unicode.Scalar], _ range: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = range.lowerBound
        let n = range.upperBound
        func run(from j: Int, while pred: (Unicode.Scalar) -> Bool) -> Int { scan(s, from: j, to: n, while: pred) }
        while i < n {
            let c = s[i]
            var end = i + 1
            if c == "'", let e = contraction(s, i, n, caseInsensitive: true) {
                end = e
            } else if c.isLetter {
                end = run(from: i, while: \.isLetter)
            } else if !c.isNewline && !c.isNumber && i + 1 < n && s[i + 1].isLetter {
                end = run(from: i + 1, while: \.isLetter)           // [^\r\n\p{L}\p{N}]?\p{L}+
            } else if c.isNumber {
                end = i + 1
                while end < n && end < i + 3 && s[end].isNumber { end += 1 } // \p{N}{1,3}
            } else if c.isOther || (c == " " && i + 1 < n && s[i + 1].isOther) {
                end = run(from: c == " " ? i + 1 : i, while: \.isOther)
                end = run(from: end, while: \.isNewline)             // [\r\n]*
            } else if c.isSpace {
                let wsEnd = run(from: i, while: \.isSpace)
                var lastNewline = -1
                for k in i..<wsEnd where s[k].isNewline { lastNewline = k }
                if lastNewline >= 0 {
                    end = lastNewline + 1                            // \s*[\r\n]+
                } else {
                    end = whitespace(s, i, n)
                }
            }
            out.append(i..<end)
            i = end
        }
        return out
    }

    /// `\s+(?!\S)|\s+` at `i`: the whole run when it ends the text, else all but its last
    /// character (which then joins what follows), else one character.
    private static func whitespace(_ s: [Unicode.Scalar], _ i: Int, _ n: Int) -> Int {
        var j = i
        while j < n && s[j].isSpace { j += 1 }
        if j == n { return j }
        return j - i >= 2 ? j - 1 : j
    }

    private static func contraction(_ s: [Unicode.Scalar], _ i: Int, _ n: Int, caseInsensitive: Bool) -> Int? {
        func at(_ k: Int) -> Unicode.Scalar? {
            guard k < n else { return nil }
            let c = s[k]
            if caseInsensitive, c.value >= 65, c.value <= 90 { return Unicode.Scalar(c.value + 32) }
            return c
        }
        guard let c1 = at(i + 1) else { return nil }
        switch c1 {
        case "s", "t", "m", "d": return i + 2
        case "r": return at(i + 2) == "e" ? i + 3 : nil
        case "v": return at(i + 2) == "e" ? i + 3 : nil
        case "l": return at(i + 2) == "l" ? i + 3 : nil
        default: return nil
        }
    }
}

extension Unicode.Scalar {
    /// `\p{L}`
    var isLetter: Bool {
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `\p{N}`
    var isNumber: Bool {
        switch properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// `\s`
    var isSpace: Bool { properties.isWhitespace }

    /// `[\r\n]`
    var isNewline: Bool { self == "\r" || self == "\n" }

    /// `[^\s\p{L}\p{N}]`
    var isOther: Bool { !isSpace && !isLetter && !isNumber }
}
