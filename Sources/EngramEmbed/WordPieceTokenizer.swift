import EngramBase
import Foundation

/// BERT's WordPiece tokenizer: special-token matching, `BertPreTokenizer` normalisation and
/// splitting, greedy longest-match-first sub-words with a continuation prefix (`##`), `[UNK]`
/// for words that cannot be covered, then `[CLS] … [SEP]` and truncation.
///
/// Built from a model's `tokenizer.json` (`init(tokenizerJSON:maxLength:)`) or a plain
/// `vocab.txt` (`init(vocabularyFile:maxLength:)`). The `padding` and `truncation` entries of
/// `tokenizer.json` are deliberately ignored: sentence-transformers truncates at the model's
/// `max_seq_length` (256 for all-MiniLM-L6-v2) and pads only inside a batch.
///
/// Thread-safety: an immutable value; share freely.
public struct WordPieceTokenizer: Sendable {
    /// Default `max_seq_length` of all-MiniLM-L6-v2, counting `[CLS]` and `[SEP]`.
    public static let defaultMaxLength = 256
    /// Largest token id accepted from a `tokenizer.json` (ids are 32-bit; BERT vocabularies
    /// have about 30,000 entries).
    public static let maximumVocabularySize = 1 << 24
    /// BERT's special tokens, matched verbatim in the text unless a `tokenizer.json` lists others.
    public static let defaultSpecialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    public let preTokenizer: BertPreTokenizer
    /// Longest output of `encode`, including `[CLS]` and `[SEP]`.
    public let maxLength: Int
    public let unknownToken: String
    public let continuingSubwordPrefix: String
    /// Words with more Unicode scalars than this become a single unknown token.
    public let maxInputCharsPerWord: Int
    public let clsID: Int32
    public let sepID: Int32
    public let unknownID: Int32
    public let padID: Int32

    private let vocabulary: [[UInt8]: Int32]
    private let tokensByID: [String]
    /// Special tokens matched verbatim in the raw text before normalisation, longest first.
    private let specialTokens: [(bytes: [UInt8], id: Int32)]

    /// Builds a tokenizer from an explicit vocabulary (token at index i has id i).
    /// - Throws: `EngramError` `.invalidArgument` (`invalidEmbeddingConfiguration`) when a
    ///   required special token is missing or `maxLength` is below 2.
    public init(
        vocabulary tokens: [String],
        preTokenizer: BertPreTokenizer = BertPreTokenizer(),
        maxLength: Int = WordPieceTokenizer.defaultMaxLength,
        unknownToken: String = "[UNK]",
        continuingSubwordPrefix: String = "##",
        maxInputCharsPerWord: Int = 100,
        specialTokens: [String] = WordPieceTokenizer.defaultSpecialTokens,
        source: String = "vocabulary"
    ) throws {
        try self.init(vocab: Self.index(tokens), tokensByID: tokens, preTokenizer: preTokenizer, maxLength: maxLength,
                      unknownToken: unknownToken, continuingSubwordPrefix: continuingSubwordPrefix,
                      maxInputCharsPerWord: maxInputCharsPerWord, specialTokens: specialTokens, source: source,
                      errorCode: .invalidArgument)
    }

    /// Token bytes → id (the first id of a token listed twice).
    private static func index(_ tokens: [String]) -> [[UInt8]: Int32] {
        var vocab: [[UInt8]: Int32] = [:]
        vocab.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where vocab[Array(t.utf8)] == nil {
            vocab[Array(t.utf8)] = Int32(i)
        }
        return vocab
    }

    /// `errorCode`: the code of a missing special token (`.dataLoss` for a file,
    /// `.invalidArgument` for a caller's vocabulary).
    private init(
        vocab: [[UInt8]: Int32], tokensByID: [String], preTokenizer: BertPreTokenizer, maxLength: Int,
        unknownToken: String, continuingSubwordPrefix: String, maxInputCharsPerWord: Int,
        specialTokens: [String], source: String, errorCode: EngramError.Code
    ) throws {
        func require(_ token: String) throws -> Int32 {
            guard let id = vocab[Array(token.utf8)] else {
                throw EngramError.invalidEmbeddingConfiguration(path: source, problem: "the vocabulary has no \(token) token", code: errorCode)
            }
            return id
        }
        guard maxLength >= 2 else {
            throw EngramError.invalidEmbeddingConfiguration(path: source, problem: "maximum length \(maxLength) leaves no room for [CLS] and [SEP]",
                                                            code: .invalidArgument)
        }
        self.vocabulary = vocab
        self.tokensByID = tokensByID
        self.preTokenizer = preTokenizer
        self.maxLength = maxLength
        self.unknownToken = unknownToken
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        self.unknownID = try require(unknownToken)
        self.clsID = try require("[CLS]")
        self.sepID = try require("[SEP]")
        self.padID = vocab[Array("[PAD]".utf8)] ?? 0
        self.specialTokens = specialTokens.filter { !$0.isEmpty }.compactMap { t in vocab[Array(t.utf8)].map { (Array(t.utf8), $0) } }
            .sorted { $0.bytes.count > $1.bytes.count }
    }

    /// Reads a `vocab.txt` (one token per line, id = line number) with BERT-uncased defaults.
    /// - Throws: `EngramError` `.notFound` (`missingModelFile`) without the file, `.dataLoss`
    ///   (`invalidEmbeddingConfiguration`) for one that is not UTF-8 or lacks a special token.
    public init(vocabularyFile url: URL, maxLength: Int = WordPieceTokenizer.defaultMaxLength) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { throw EngramError.missingModelFile(path: url.path) }
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw EngramError.invalidEmbeddingConfiguration(path: url.path, problem: "not UTF-8 text")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        try self.init(vocab: Self.index(lines), tokensByID: lines, preTokenizer: BertPreTokenizer(), maxLength: maxLength,
                      unknownToken: "[UNK]", continuingSubwordPrefix: "##", maxInputCharsPerWord: 100,
                      specialTokens: Self.defaultSpecialTokens, source: url.path, errorCode: .dataLoss)
    }

    /// Reads a Hugging Face `tokenizer.json` with a `BertNormalizer` and a `WordPiece` model.
    /// - Throws: `EngramError` `.notFound` (`missingModelFile`) without the file, `.dataLoss`
    ///   (`invalidEmbeddingConfiguration`) for an unusable one, `.unimplemented`
    ///   (`unsupportedEmbeddingModel`) for another tokenizer model or normalizer.
    public init(tokenizerJSON url: URL, maxLength: Int = WordPieceTokenizer.defaultMaxLength) throws {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else { throw EngramError.missingModelFile(path: path) }
        func bad(_ problem: String) -> EngramError { .invalidEmbeddingConfiguration(path: path, problem: problem) }
        func unsupported(_ problem: String) -> EngramError { .unsupportedEmbeddingModel(path: path, problem: problem) }
        let root: [String: Any]
        do {
            let data = try Data(contentsOf: url)
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw bad("not a JSON object") }
            root = object
        } catch let error as EngramError {
            throw error
        } catch {
            throw bad("not valid JSON")
        }
        guard let model = root["model"] as? [String: Any] else { throw bad("no \"model\" entry") }
        if let type = model["type"] as? String, type != "WordPiece" { throw unsupported("model type is \(type), expected WordPiece") }
        guard let vocabDict = model["vocab"] as? [String: Any] else { throw bad("no model.vocab") }
        var vocab: [[UInt8]: Int32] = [:]
        vocab.reserveCapacity(vocabDict.count)
        var maxID = -1
        var pairs: [(String, Int)] = []
        pairs.reserveCapacity(vocabDict.count)
        for (token, value) in vocabDict {
            guard let id = exactInteger(value), id >= 0, id < Self.maximumVocabularySize else {
                throw bad("vocabulary id \(value) of \(token) is not an integer in 0..<\(Self.maximumVocabularySize)")
            }
            pairs.append((token, id))
            maxID = max(maxID, id)
        }
        var byID = [String](repeating: "", count: maxID + 1)
        for (token, id) in pairs {
            byID[id] = token
            vocab[Array(token.utf8)] = Int32(id)
        }
        let normalizer = root["normalizer"] as? [String: Any] ?? [:]
        if let type = normalizer["type"] as? String, type != "BertNormalizer" { throw unsupported("normalizer is \(type), expected BertNormalizer") }
        let lowercase = normalizer["lowercase"] as? Bool ?? true
        let pre = BertPreTokenizer(
            cleanText: normalizer["clean_text"] as? Bool ?? true,
            handleChineseChars: normalizer["handle_chinese_chars"] as? Bool ?? true,
            stripAccents: normalizer["strip_accents"] as? Bool,
            lowercase: lowercase)
        let added = (root["added_tokens"] as? [[String: Any]] ?? []).compactMap { $0["content"] as? String }
        try self.init(
            vocab: vocab, tokensByID: byID, preTokenizer: pre, maxLength: maxLength,
            unknownToken: model["unk_token"] as? String ?? "[UNK]",
            continuingSubwordPrefix: model["continuing_subword_prefix"] as? String ?? "##",
            maxInputCharsPerWord: (model["max_input_chars_per_word"] as? NSNumber)?.intValue ?? 100,
            specialTokens: added.isEmpty ? Self.defaultSpecialTokens : added,
            source: path, errorCode: .dataLoss)
    }

    /// Number of entries in the vocabulary.
    public var vocabularySize: Int { tokensByID.count }

    /// The id of `token`, or nil when it is not in the vocabulary.
    public func id(of token: String) -> Int32? { vocabulary[Array(token.utf8)] }

    /// The token text for `id` (empty for an out-of-range id).
    public func token(of id: Int32) -> String {
        (id >= 0 && Int(id) < tokensByID.count) ? tokensByID[Int(id)] : ""
    }

    /// Model input ids: `[CLS]`, the WordPiece ids of `text` cut to `maxLength - 2`, `[SEP]`.
    /// Never empty: an empty or whitespace-only text gives `[CLS, SEP]`.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = [clsID]
        appendPieceIDs(of: text, to: &ids, limit: maxLength - 2)
        ids.append(sepID)
        return ids
    }

    /// The WordPiece tokens of `text` without `[CLS]`/`[SEP]` and without truncation.
    public func tokenize(_ text: String) -> [String] {
        var ids: [Int32] = []
        appendPieceIDs(of: text, to: &ids, limit: Int.max)
        return ids.map { token(of: $0) }
    }

    /// Appends at most `limit` piece ids for `text` to `ids`.
    private func appendPieceIDs(of text: String, to ids: inout [Int32], limit: Int) {
        let start = ids.count
        for segment in splitOnSpecialTokens(text) {
            if ids.count - start >= limit { break }
            switch segment {
            case .special(let id):
                ids.append(id)
            case .text(let piece):
                for word in preTokenizer.words(piece) {
                    if ids.count - start >= limit { break }
                    appendWordPieces(of: word, to: &ids)
                }
            }
        }
        if ids.count - start > limit { ids.removeLast(ids.count - start - limit) }
    }

    private enum Segment { case text(String), special(Int32) }

    /// Splits raw text around verbatim occurrences of special tokens such as `[SEP]`
    /// (leftmost, then longest match), as the model's added-token table requires.
    private func splitOnSpecialTokens(_ text: String) -> [Segment] {
        let bytes = Array(text.utf8)
        // Fast path: no byte of the text can start a special token.
        guard specialTokens.contains(where: { special in bytes.contains(special.bytes[0]) }) else {
            return [.text(text)]
        }
        var segments: [Segment] = []
        var textStart = 0
        var i = 0
        while i < bytes.count {
            var matched: (length: Int, id: Int32)?
            for special in specialTokens where special.bytes.count <= bytes.count - i {
                if bytes[i] == special.bytes[0] && bytes[i..<(i + special.bytes.count)].elementsEqual(special.bytes) {
                    matched = (special.bytes.count, special.id)
                    break  // sorted longest first
                }
            }
            if let m = matched {
                if textStart < i { segments.append(.text(String(decoding: bytes[textStart..<i], as: UTF8.self))) }
                segments.append(.special(m.id))
                i += m.length
                textStart = i
            } else {
                i += 1
            }
        }
        if textStart < bytes.count { segments.append(.text(String(decoding: bytes[textStart...], as: UTF8.self))) }
        return segments
    }

    /// Greedy longest-match-first WordPiece for one word; the whole word becomes the unknown
    /// token when it is too long or some position cannot be matched.
    private func appendWordPieces(of word: String, to ids: inout [Int32]) {
        let bytes = Array(word.utf8)
        // Byte offsets of scalar boundaries (UTF-8 continuation bytes are 0b10xxxxxx).
        var boundaries: [Int] = []
        boundaries.reserveCapacity(bytes.count + 1)
        for (i, b) in bytes.enumerated() where b & 0xC0 != 0x80 { boundaries.append(i) }
        let scalarCount = boundaries.count
        boundaries.append(bytes.count)
        guard scalarCount <= maxInputCharsPerWord else {
            ids.append(unknownID)
            return
        }
        let prefix = Array(continuingSubwordPrefix.utf8)
        let mark = ids.count
        var startIndex = 0
        var key: [UInt8] = []
        key.reserveCapacity(bytes.count + prefix.count)
        while startIndex < scalarCount {
            var endIndex = scalarCount
            var found: Int32?
            while endIndex > startIndex {
                key.removeAll(keepingCapacity: true)
                if startIndex > 0 { key.append(contentsOf: prefix) }
                key.append(contentsOf: bytes[boundaries[startIndex]..<boundaries[endIndex]])
                if let id = vocabulary[key] {
                    found = id
                    break
                }
                endIndex -= 1
            }
            guard let id = found else {
                ids.removeLast(ids.count - mark)
                ids.append(unknownID)
                return
            }
            ids.append(id)
            startIndex = endIndex
        }
    }
}
