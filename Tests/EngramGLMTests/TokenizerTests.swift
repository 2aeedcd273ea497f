import Foundation
import Testing
import EngramGLM

struct TokenizerTests {
    static func tokenizer() throws -> GLMTokenizer { try GLMTokenizer(file: SharedModels.smol().file) }

    @Test("SmolLM2 token ids match llama.cpp for every reference string")
    func referenceIDs() throws {
        let tok = try Self.tokenizer()
        guard let cases = try TestFiles.json("smollm2_tokenize.json") as? [[String: Any]] else {
            Issue.record("smollm2_tokenize.json has an unexpected shape")
            return
        }
        #expect(cases.count > 5)
        for c in cases {
            let text = c["text"] as! String
            let ids = (c["ids"] as! [Int]).map(Int32.init)
            let idsSpecial = (c["ids_special"] as! [Int]).map(Int32.init)
            #expect(tok.encode(text, special: false) == ids, "text: \(text.debugDescription)")
            #expect(tok.encode(text, special: true) == idsSpecial, "special, text: \(text.debugDescription)")
            #expect(tok.decode(ids) == text, "round trip: \(text.debugDescription)")
        }
    }

    @Test("edge cases: empty, whitespace runs, digits, emoji, CJK round-trip")
    func edgeCases() throws {
        let tok = try Self.tokenizer()
        #expect(tok.encode("") == [])
        for text in ["   ", "\t\t\n \n", "a\u{00A0}b", "0123456789", "🙂🙃👍🏽", "自主学习 日本語", "x  \n\n  y", "ＦＵＬＬ"] {
            let ids = tok.encode(text)
            #expect(!ids.isEmpty)
            #expect(tok.decode(ids) == text, "\(text.debugDescription)")
        }
        // SmolLM2 splits every digit.
        #expect(tok.encode("2024").count == 4)
    }

    @Test("invalid UTF-8 input is replaced, never crashes")
    func invalidUTF8() throws {
        let tok = try Self.tokenizer()
        let bytes: [UInt8] = [0x61, 0xFF, 0xC3, 0x28, 0xE2, 0x82]
        let ids = tok.encode(bytes: bytes)
        #expect(!ids.isEmpty)
        #expect(tok.decode(ids) == String(decoding: bytes, as: UTF8.self))
    }

    @Test("special tokens: recognised only when asked; control tokens decode to nothing")
    func specialTokens() throws {
        let tok = try Self.tokenizer()
        let start = try #require(tok.tokenID("<|im_start|>"))
        #expect(tok.encode("<|im_start|>", special: true) == [start])
        #expect(tok.encode("<|im_start|>", special: false).count > 1)
        #expect(tok.decode([start]) == "")
        #expect(tok.decode([start], special: true) == "<|im_start|>")
    }

    @Test("streaming decoder never emits half a UTF-8 character")
    func streamingDecoder() throws {
        let tok = try Self.tokenizer()
        let text = "Emoji 🙂 and CJK 自主学习 — done"
        let ids = tok.encode(text)
        var decoder = StreamingDecoder()
        var out = ""
        for id in ids {
            let piece = decoder.append(tok.tokenBytes(id))
            #expect(!piece.contains("\u{FFFD}"))
            out += piece
        }
        out += decoder.flush()
        #expect(out == text)
        var d2 = StreamingDecoder()
        #expect(d2.append([0xF0, 0x9F]) == "")
        #expect(d2.append([0x99]) == "")
        #expect(d2.append([0x82, 0x41]) == "🙂A")
    }

    @Test("pre-tokenizers split as their regexes do")
    func preTokenizers() {
        #expect(PreTokenizer.gpt2.split("Hello world's 123  x\n") == ["Hello", " world", "'s", " 123", " ", " x", "\n"])
        #expect(PreTokenizer.smollm.split("a12 b") == ["a", "1", "2", " b"])
        #expect(PreTokenizer.llama3.split("I'M 12345 ok!!\n\nx") == ["I", "'M", " ", "123", "45", " ok", "!!\n\n", "x"])
        #expect(PreTokenizer.llama3.split("a \n b") == ["a", " \n", " b"])
    }
}
