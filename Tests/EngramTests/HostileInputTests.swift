import Engram
import EngramBase
import Testing

@Suite("JSONLRecordDecoder: hostile input")
struct HostileInputTests {
    static let badUTF8 = malformed("malformed JSON (The input is not valid UTF-8)")

    @Test("invalid UTF-8 anywhere in the line")
    func invalidUTF8() {
        let prefix = Array(#"{"vector":[1],"text":""#.utf8), suffix = Array(#""}"#.utf8)
        let sequences: [[UInt8]] = [
            [0xFF], [0xC3], [0xC0, 0x80], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF0, 0x9F, 0x98], [0x80], [0xFE, 0xFF],
        ]
        for bytes in sequences {
            #expect(failure(bytes: prefix + bytes + suffix) == Self.badUTF8, "\(bytes)")
        }
        // In a member name, an ignored member and outside strings.
        #expect(failure(bytes: Array(#"{"vector":[1],""#.utf8) + [0xFF] + Array(#"":1}"#.utf8)) == Self.badUTF8)
        #expect(failure(bytes: Array(#"{"vector":[1]} "#.utf8) + [0xFF]) == Self.badUTF8)
    }

    @Test("control characters and NUL bytes")
    func controlCharacters() {
        #expect(failure(bytes: Array(#"{"vector":[1],"text":"a"#.utf8) + [0x09] + Array(#"b"}"#.utf8))
            == malformed("malformed JSON (Within strings, some characters must be escaped, we found unescaped characters)"))
        #expect(failure(bytes: Array(#"{"vector":[1],"text":"a"#.utf8) + [0x00] + Array(#"b"}"#.utf8))
            == malformed("malformed JSON (Within strings, some characters must be escaped, we found unescaped characters)"))
        #expect(failure(bytes: [0x00] + Array(#"{"vector":[1]}"#.utf8)) != nil)
        #expect(failure(bytes: Array(#"{"vector":[1]}"#.utf8) + [0x00]) != nil)
        #expect(failure(bytes: [UInt8](repeating: 0, count: 1000)) != nil)
    }

    @Test("100,000 nested arrays are refused, not recursed into")
    func deepNesting() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let tooDeep = malformed("malformed JSON (The JSON document was too deep (too many nested objects and arrays))")
        #expect(failure(deep) == tooDeep)
        #expect(failure(#"{"vector":[1],"meta":{"a":"# + deep + "}}") == tooDeep)
        #expect(failure(String(repeating: #"{"a":"#, count: 100_000)) != nil)
    }

    @Test("a 50 MB line, a million-element vector, then small lines again with the same decoder")
    func hugeLines() throws {
        var decoder = JSONLRecordDecoder(defaultNamespace: "d")
        func run(_ line: String) throws -> NewMemory {
            try Array(line.utf8).withUnsafeBytes { bytes in try decoder.decode(bytes) }
        }
        let text = String(repeating: "abcdefghij", count: 5_000_000)
        #expect(try run(#"{"text":"\#(text)"}"#).text.utf8.count == 50_000_000)
        #expect(try run(#"{"vector":[1],"id":"small"}"#) == NewMemory(id: "small", namespace: "d", vector: [1]))
        let vector = "[" + Array(repeating: "0.5", count: 1_000_000).joined(separator: ",") + "]"
        let big = try run(#"{"vector":\#(vector)}"#)
        #expect(big.vector.count == 1_000_000 && big.vector.allSatisfy { $0 == 0.5 })
        #expect(try run(#"{"vector":[2],"tags":["x"]}"#) == NewMemory(namespace: "d", vector: [2], tags: ["x"]))
    }

    @Test("long numbers and many escapes")
    func longTokens() throws {
        let digits = String(repeating: "1", count: 5000)
        #expect(try decode(#"{"vector":[0.\#(digits)],"importance":0.\#(digits)}"#).get().importance == 1.0 / 9)
        #expect(failure(#"{"vector":[\#(digits)]}"#) == malformed(JSONLRecordDecoderErrorTests.number))
        let escapes = String(repeating: #"\u00e9\n"#, count: 100_000)
        #expect(try decode(#"{"text":"\#(escapes)"}"#).get().text == String(repeating: "é\n", count: 100_000))
    }

    @Test("20,000 random mutations of a valid record: each decodes or fails as a malformed record (seeded)")
    func mutations() {
        let seed = testSeed("HostileInputTests")
        var rng = SeededRandom(seed: seed)
        let valid = Array((#"{"id":"a1","namespace":"n","text":"caf\u00e9 é","vector":[1,-2.5e-3,3],"tags":["x","y"],"#
            + #""meta":{"k":[1,{"z":null}],"b":true},"time":"2024-05-01T12:00:00.5+02:00","importance":0.5,"expiresAt":17e8}"#).utf8)
        let alphabet = Array(#"{}[]:,"\\0123456789.eE+-tfnul aZ"#.utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xFF]
        var decoded = 0
        for _ in 0..<20_000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let byte = Bool.random(using: &rng) ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = byte
                case 1: bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng))
                case 2: bytes.insert(byte, at: Int.random(in: 0...bytes.count, using: &rng))
                default: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
                }
                if bytes.isEmpty { bytes = [byte] }
            }
            switch decode(bytes: bytes) {
            case .success: decoded += 1
            case let .failure(error): #expect(error.code == .invalidArgument && error.reason == .malformedRecord, "\(error)")
            }
        }
        #expect(decoded > 0)
    }
}
