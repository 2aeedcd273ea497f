import EngramBase
import EngramEmbed
import Foundation
import Testing

@Suite("WordPiece tokenizer")
struct TokenizerTests {
    @Test func matchesReferenceIDsExactly() throws {
        let tokenizer = try Fixtures.tokenizer()
        let cases = try Fixtures.referenceCases()
        #expect(cases.count >= 10)
        for c in cases {
            #expect(tokenizer.encode(c.text) == c.ids, "ids of \(c.text.debugDescription)")
            #expect(tokenizer.encode(c.text).map { tokenizer.token(of: $0) } == c.tokens, "tokens of \(c.text.debugDescription)")
        }
    }

    @Test func vocabularyTextFileGivesTheSameIDs() throws {
        let directory = try Fixtures.requireModel()
        let fromText = try WordPieceTokenizer(vocabularyFile: directory.appendingPathComponent("vocab.txt"))
        let fromJSON = try Fixtures.tokenizer()
        #expect(fromText.vocabularySize == fromJSON.vocabularySize)
        for c in try Fixtures.referenceCases() {
            #expect(fromText.encode(c.text) == c.ids)
        }
    }

    /// `tokenize` without special tokens, as strings.
    private func pieces(_ text: String) throws -> [String] { try Fixtures.tokenizer().tokenize(text) }

    @Test func emptyAndWhitespaceOnlyTextsAreJustCLSAndSEP() throws {
        let tokenizer = try Fixtures.tokenizer()
        let clsSep = [tokenizer.clsID, tokenizer.sepID]
        #expect(tokenizer.clsID == tokenizer.id(of: "[CLS]") && tokenizer.sepID == tokenizer.id(of: "[SEP]"))
        #expect(tokenizer.encode("") == clsSep)
        #expect(tokenizer.encode(" \t\n\r\u{3000}\u{00A0} ") == clsSep)
        #expect(tokenizer.encode("\u{0000}\u{200B}\u{FFFD}") == clsSep)
    }

    @Test func longInputIsTruncatedTo256IncludingCLSAndSEP() throws {
        let tokenizer = try Fixtures.tokenizer()
        let ids = tokenizer.encode(String(repeating: "word ", count: 400))
        #expect(ids.count == 256)
        #expect(ids.first == tokenizer.clsID && ids.last == tokenizer.sepID)
        #expect(ids[1..<255].allSatisfy { $0 == tokenizer.id(of: "word") })
        // Multi-piece words are cut piece by piece, not word by word.
        let pieces = tokenizer.encode(String(repeating: "unbelievably ", count: 200))
        #expect(pieces.count == 256 && pieces.last == tokenizer.sepID)
        // At the limit nothing is cut.
        let exact = tokenizer.encode(String(repeating: "word ", count: 254))
        #expect(exact.count == 256)
        #expect(tokenizer.encode(String(repeating: "word ", count: 253)).count == 255)
    }

    @Test func accentsAreStrippedAndTextLowerCased() throws {
        #expect(try pieces("Café naïve résumé Ångström") == ["cafe", "naive", "resume", "ang", "##strom"])
        #expect(try pieces("Crème BRÛLÉE") == ["cr", "##eme", "br", "##ule", "##e"])
        // Decomposed input (e + combining acute) gives the same as precomposed.
        #expect(try pieces("e\u{301}te\u{301}") == pieces("été"))
    }

    @Test func chineseCharactersAreSeparateWords() throws {
        #expect(try pieces("自主学习很有趣") == ["[UNK]", "主", "学", "[UNK]", "[UNK]", "有", "[UNK]"])
        #expect(try pieces("学习") == ["学", "[UNK]"])
    }

    @Test func emojiBecomeUnknownTokens() throws {
        #expect(try pieces("I love pizza 🙂🍕!") == ["i", "love", "pizza", "[UNK]", "!"])
        // A family emoji joined with zero-width joiners is one unknown word.
        #expect(try pieces("👨‍👩‍👧") == ["[UNK]"])
    }

    @Test func mixedScriptsSplitLikeBERT() throws {
        #expect(try pieces("Hello мир 世界, γειά σου κόσμε! こんにちは") == [
            "hello", "м", "##и", "##р", "世", "[UNK]", ",", "γ", "##ε", "##ια", "σ", "##ου",
            "κ", "##ο", "##σ", "##μ", "##ε", "!", "こ", "##ん", "##に", "##ち", "##は",
        ])
    }

    @Test func punctuationAndSubwords() throws {
        #expect(try pieces("don't stop") == ["don", "'", "t", "stop"])
        #expect(try pieces("unaffable") == ["una", "##ffa", "##ble"])
        #expect(try pieces("xxxxx") == ["xx", "##xx", "##x"])
        #expect(try pieces("$5+3=8") == ["$", "5", "+", "3", "=", "8"])
    }

    @Test func controlCharactersAreRemoved() throws {
        #expect(try pieces("ctrl\u{0000}\u{200B}chars\u{00AD}") == ["ct", "##rl", "##cha", "##rs"])
    }

    /// The reference tokenizer classifies scalars with Unicode 8.0 tables: later punctuation,
    /// marks and format characters are ordinary letters to it, and so they must be here.
    @Test func unicodeClassesFollowTheReferenceTokenizer() throws {
        #expect(try pieces("a\u{2E42}b") == ["a", "[UNK]", "b"])   // punctuation since 8.0: split
        #expect(try pieces("a\u{2E5D}b") == ["[UNK]"])             // punctuation since 14.0: part of the word
        #expect(try pieces("a\u{061C}b") == ["ab"])                // format character (6.3): removed
        #expect(try pieces("a\u{0897}b") == ["[UNK]"])             // combining mark since 16.0: kept
        #expect(try pieces("a\u{0378}b") == ["[UNK]"])             // unassigned: kept
        #expect(try pieces("a\u{166D}b") == ["a", "[UNK]", "b"])   // punctuation in 8.0, a symbol today
        #expect(try pieces("a\u{1734}b") == ["ab"])                // non-spacing mark in 8.0, spacing today
    }

    @Test func overlongWordIsOneUnknownToken() throws {
        #expect(try pieces(String(repeating: "a", count: 101)) == ["[UNK]"])
        #expect(try pieces(String(repeating: "a", count: 100)) != ["[UNK]"])
    }

    @Test func specialTokensInTextAreRecognised() throws {
        let tokenizer = try Fixtures.tokenizer()
        let ids = tokenizer.encode("[SEP] inside [MASK] text")
        #expect(ids.map { tokenizer.token(of: $0) } == ["[CLS]", "[SEP]", "inside", "[MASK]", "text", "[SEP]"])
        // Only the exact spelling counts; lower case is ordinary text.
        #expect(try pieces("[sep]") == ["[", "sep", "]"])
    }

    @Test func preTokenizerAlone() {
        let pre = BertPreTokenizer()
        #expect(pre.normalize("ÀB\tc") == "ab c")
        #expect(pre.words("Hi, 世界!") == ["hi", ",", "世", "界", "!"])
        let cased = BertPreTokenizer(lowercase: false)
        #expect(cased.words("Café") == ["Café"])
    }

    @Test(arguments: ["9223372036854775807", "1000000000000000", "-1", "2.5", "\"7\""])
    func tokenizerJSONWithAnAbsurdIDIsAnError(id: String) throws {
        let url = try temporaryDirectory().appendingPathComponent("tokenizer.json")
        try Data(#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": \#(id)}}}"#.utf8).write(to: url)
        let error = expectError(.dataLoss, .invalidEmbeddingConfiguration, "id \(id)") { try WordPieceTokenizer(tokenizerJSON: url) }
        #expect(error?.message.contains("vocabulary id") == true, "\(error?.message ?? "")")
    }

    @Test func explicitVocabularyRequiresSpecialTokens() {
        let missing = expectError(.invalidArgument, .invalidEmbeddingConfiguration) { try WordPieceTokenizer(vocabulary: ["a", "b"]) }
        #expect(missing?.message.contains("[UNK]") == true)
        expectError(.invalidArgument, .invalidEmbeddingConfiguration) {
            try WordPieceTokenizer(vocabulary: ["[PAD]", "[UNK]", "[CLS]", "[SEP]"], maxLength: 1)
        }
        let tiny = try? WordPieceTokenizer(vocabulary: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##able", "a"])
        #expect(tiny?.encode("unable a b") == [2, 4, 5, 6, 1, 3])
    }
}
