import EngramBase

/// Byte-level BPE tokenizer built from a GGUF file's vocabulary and merges
/// (`tokenizer.ggml.model = gpt2`). Immutable and safe to share between threads.
public final class GLMTokenizer: Sendable {
    public enum TokenKind: Int32, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public let tokens: [String]
    public let kinds: [TokenKind]
    public let preTokenizer: PreTokenizer
    public let bosToken: Int32?
    public let eosToken: Int32?
    /// Whether a BOS token is put before an encoded prompt (`tokenizer.ggml.add_bos_token`).
    public let addBOS: Bool
    private let ids: [String: Int32]
    /// (left id << 32 | right id) → rank of the merge and the id of the merged token.
    private let merges: [UInt64: (rank: Int32, result: Int32)]
    /// Control and user-defined tokens, longest first, as UTF-8.
    private let specials: [(bytes: [UInt8], id: Int32, control: Bool)]
    /// Byte → token id of its single-character symbol.
    private let byteTokens: [Int32?]

    public var vocabularySize: Int { tokens.count }

    /// Builds the tokenizer from `file`'s `tokenizer.ggml.*` metadata.
    /// - Throws: `EngramError` `.dataLoss` (`invalidGGUF`, or `invalidHyperparameters` for
    ///   more than `GLMModelConfig.maximumVocabularySize` tokens), `.unimplemented`
    ///   (`unsupportedGGUF`) for a tokenizer or pre-tokenizer it does not implement.
    public init(file: GGUFFile) throws {
        guard let model = file["tokenizer.ggml.model"]?.stringValue else {
            throw EngramError.invalidGGUF(file.path, "tokenizer.ggml.model is missing")
        }
        guard model == "gpt2" else {
            throw EngramError.unsupportedGGUF(file.path, "tokenizer model \(model) is not supported (byte-level BPE, gpt2, is)")
        }
        guard let toks = file["tokenizer.ggml.tokens"]?.stringArray else {
            throw EngramError.invalidGGUF(file.path, "tokenizer.ggml.tokens is missing or not an array of strings")
        }
        guard toks.count <= GLMModelConfig.maximumVocabularySize else {
            throw EngramError.invalidHyperparameters(file.path, "tokenizer.ggml.tokens has \(toks.count) entries, more than \(GLMModelConfig.maximumVocabularySize)")
        }
        tokens = toks
        let types = file["tokenizer.ggml.token_type"]?.intArray?.map { TokenKind(rawValue: Int32(truncatingIfNeeded: $0)) ?? .normal }
        kinds = types?.count == tokens.count ? types! : Array(repeating: .normal, count: tokens.count)
        let preName = file["tokenizer.ggml.pre"]?.stringValue ?? "gpt-2"
        guard let pre = PreTokenizer(name: preName) else {
            throw EngramError.unsupportedGGUF(file.path, "pre-tokenizer \(preName) is not supported (smollm, gpt-2, llama3, llama-bpe, glm4, chatglm-bpe are)")
        }
        preTokenizer = pre
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = Int32(i) }
        self.ids = ids
        var table: [UInt64: (rank: Int32, result: Int32)] = [:]
        let mergeList = file["tokenizer.ggml.merges"]?.stringArray ?? []
        table.reserveCapacity(mergeList.count)
        for (i, m) in mergeList.enumerated() {
            guard let space = m.firstIndex(of: " ") else { continue }
            let left = String(m[..<space]), right = String(m[m.index(after: space)...])
            guard let a = ids[left], let b = ids[right], let r = ids[left + right] else { continue }
            let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
            if table[key] == nil { table[key] = (Int32(i), r) }
        }
        merges = table
        let count = tokens.count
        func tokenID(_ key: String) -> Int32? {
            guard let v = file[key]?.intValue, v >= 0, v < count else { return nil }
            return Int32(v)
        }
        bosToken = tokenID("tokenizer.ggml.bos_token_id")
        eosToken = tokenID("tokenizer.ggml.eos_token_id")
        addBOS = (file["tokenizer.ggml.add_bos_token"]?.boolValue ?? false) && bosToken != nil
        var sp: [(bytes: [UInt8], id: Int32, control: Bool)] = []
        for (i, k) in kinds.enumerated() where (k == .control || k == .userDefined) && !tokens[i].isEmpty {
            sp.append((Array(tokens[i].utf8), Int32(i), k == .control))
        }
        specials = sp.sorted { $0.bytes.count > $1.bytes.count }
        byteTokens = (0..<256).map { ids[String(ByteMap.scalar(UInt8($0)))] }
    }

    /// The id of a token spelled exactly `text` in the vocabulary.
    public func tokenID(_ text: String) -> Int32? { ids[text] }

    // MARK: Encoding

    /// Token ids of `text`.
    /// - Parameter special: recognise control tokens such as `<|im_start|>` in the text
    ///   (user-defined tokens are always recognised); when false they are plain text.
    /// - Note: no BOS is added here; see `addBOS`.
    public func encode(_ text: String, special: Bool = false) -> [Int32] {
        var out: [Int32] = []
        for segment in splitSpecial(Array(text.utf8), special: special) {
            switch segment {
            case .token(let id): out.append(id)
            case .text(let bytes):
                for piece in preTokenizer.split(String(decoding: bytes, as: UTF8.self)) {
                    bpe(piece, into: &out)
                }
            }
        }
        return out
    }

    /// Token ids of raw bytes; invalid UTF-8 is replaced by U+FFFD first.
    public func encode(bytes: [UInt8], special: Bool = false) -> [Int32] {
        encode(String(decoding: bytes, as: UTF8.self), special: special)
    }

    private enum Segment { case text([UInt8]), token(Int32) }

    private func splitSpecial(_ bytes: [UInt8], special: Bool) -> [Segment] {
        var out: [Segment] = []
        var i = 0, textStart = 0
        outer: while i < bytes.count {
            for sp in specials where !sp.control || special {
                let n = sp.bytes.count
                if i + n <= bytes.count && bytes[i] == sp.bytes[0] && Array(bytes[i..<i + n]) == sp.bytes {
                    if textStart < i { out.append(.text(Array(bytes[textStart..<i]))) }
                    out.append(.token(sp.id))
                    i += n
                    textStart = i
                    continue outer
                }
            }
            i += 1
        }
        if textStart < bytes.count { out.append(.text(Array(bytes[textStart...]))) }
        return out
    }

    /// Byte-level BPE of one pre-token: start from one symbol per byte and repeatedly merge the
    /// adjacent pair of lowest rank (leftmost on ties). Merges whose parts or result are not
    /// in the vocabulary are dropped when loading, so every symbol is a token.
    private func bpe(_ piece: String, into out: inout [Int32]) {
        var symbols: [Int32] = []
        symbols.reserveCapacity(piece.utf8.count)
        for b in piece.utf8 {
            if let id = byteTokens[Int(b)] { symbols.append(id) }
        }
        while symbols.count > 1 {
            var best = Int32.max, at = -1, result: Int32 = 0
            for i in 0..<symbols.count - 1 {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let m = merges[key], m.rank < best {
                    best = m.rank
                    at = i
                    result = m.result
                }
            }
            if at < 0 { break }
            symbols[at] = result
            symbols.remove(at: at + 1)
        }
        out += symbols
    }

    // MARK: Decoding

    /// The bytes a token stands for. Control tokens give nothing unless `special` is true.
    public func tokenBytes(_ id: Int32, special: Bool = false) -> [UInt8] {
        guard id >= 0, Int(id) < tokens.count else { return [] }
        let text = tokens[Int(id)]
        switch kinds[Int(id)] {
        case .control, .unknown, .unused: return special ? Array(text.utf8) : []
        case .userDefined: return Array(text.utf8)
        case .normal, .byte:
            var out: [UInt8] = []
            out.reserveCapacity(text.utf8.count)
            for scalar in text.unicodeScalars {
                if let b = ByteMap.byte(scalar) { out.append(b) } else { out += Array(String(scalar).utf8) }
            }
            return out
        }
    }

    /// The text of a sequence of tokens (invalid UTF-8 becomes U+FFFD).
    public func decode(_ ids: [Int32], special: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes += tokenBytes(id, special: special) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func isControl(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < kinds.count && kinds[Int(id)] == .control
    }
}

/// GPT-2's reversible byte ↔ code point map: printable bytes map to themselves, the others
/// (in ascending order) to U+0100, U+0101, … (space becomes `Ġ`).
enum ByteMap {
    static let table: [Unicode.Scalar] = {
        var out = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                out[b] = Unicode.Scalar(UInt32(b))!
            } else {
                out[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return out
    }()

    static let inverse: [UInt32: UInt8] = {
        var d: [UInt32: UInt8] = [:]
        for (b, s) in table.enumerated() { d[s.value] = UInt8(b) }
        return d
    }()

    static func scalar(_ b: UInt8) -> Unicode.Scalar { table[Int(b)] }
    static func byte(_ s: Unicode.Scalar) -> UInt8? { inverse[s.value] }
}
