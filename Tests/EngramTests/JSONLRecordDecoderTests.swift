import Engram
import EngramBase
import Testing

@Suite("JSONLRecordDecoder: fields")
struct JSONLRecordDecoderFieldTests {
    @Test("every field")
    func everyField() throws {
        let line = #"{"id":"a1","namespace":"notes","text":"apple pie","vector":[1,-2.5,0.125,3e-3],"#
            + #""tags":["food","sweet"],"meta":{"source":"test","n":42,"ok":true,"none":null,"list":[1,"x",false],"obj":{"k":-1.5}},"#
            + #""time":"2024-05-01T12:00:00.250Z","expiresAt":1714600000,"validTo":"2024-06-01T00:00:00+02:00","importance":0.75}"#
        let m = try decode(line).get()
        #expect(m == NewMemory(
            id: "a1", namespace: "notes", text: "apple pie", vector: [1, -2.5, 0.125, 0.003], tags: ["food", "sweet"],
            meta: ["source": .string("test"), "n": .number(42), "ok": .bool(true), "none": .null,
                   "list": .array([.number(1), .string("x"), .bool(false)]), "obj": .object(["k": .number(-1.5)])],
            time: 1_714_564_800.25, expiresAt: 1_714_600_000, validTo: 1_717_192_800, importance: 0.75))
    }

    @Test("defaults: only a vector")
    func onlyVector() throws {
        let m = try decode(#"{"vector":[0.5]}"#, defaultNamespace: "inbox").get()
        #expect(m == NewMemory(id: nil, namespace: "inbox", text: "", vector: [0.5], tags: [], meta: [:],
                               time: nil, expiresAt: nil, validTo: nil, importance: 0))
    }

    @Test("only text: the vector is left empty for the embedder")
    func onlyText() throws {
        let m = try decode(#"{"text":"embed me"}"#).get()
        #expect(m.text == "embed me" && m.vector.isEmpty && m.id == nil)
    }

    @Test("null reads as missing")
    func nulls() throws {
        let line = #"{"id":null,"namespace":null,"text":"t","vector":null,"tags":null,"meta":null,"#
            + #""time":null,"expiresAt":null,"validTo":null,"importance":null}"#
        #expect(try decode(line, defaultNamespace: "d").get() == NewMemory(namespace: "d", text: "t", vector: []))
    }

    @Test("empty strings are kept; an empty vector counts as given")
    func emptyValues() throws {
        #expect(try decode(#"{"id":"","namespace":"","vector":[1]}"#).get()
            == NewMemory(id: "", namespace: "", vector: [1]))
        #expect(try decode(#"{"vector":[],"text":""}"#).get() == NewMemory(vector: []))
        #expect(try decode(#"{"text":"   "}"#).get().text == "   ")
    }

    @Test("times: epoch numbers, ISO 8601 with fraction and offset, epoch seconds in a string, blanks")
    func times() throws {
        func time(_ json: String) throws -> Double? { try decode(#"{"vector":[1],"time":"# + json + "}").get().time }
        #expect(try time("1714564800") == 1_714_564_800)
        #expect(try time("-1.5") == -1.5)
        #expect(try time("1.7145648e9") == 1_714_564_800)
        #expect(try time(#""2024-05-01T12:00:00Z""#) == 1_714_564_800)
        #expect(try time(#""2024-05-01T12:00:00.5+02:00""#) == 1_714_557_600.5)
        #expect(try time(#""2024-05-01T12:00:00-00:30""#) == 1_714_566_600)
        #expect(try time(#""1969-12-31T23:59:59.5Z""#) == -0.5)
        #expect(try time(#""1e5""#) == 100_000)
        #expect(try time(#"" -1.5 ""#) == -1.5)
        #expect(try time(#""  2024-05-01T12:00:00Z ""#) == 1_714_564_800)
        #expect(try decode(#"{"vector":[1],"expiresAt":"2024-05-01T12:00:00Z","validTo":0}"#).get().expiresAt == 1_714_564_800)
        #expect(try decode(#"{"vector":[1],"validTo":0}"#).get().validTo == 0)
    }

    @Test("unknown members are ignored, whatever they hold")
    func unknownMembers() throws {
        let line = #"{"vector":[1],"createdAt":"2024-01-01T00:00:00Z","extra":{"deep":[[[[1]]],{"a":null}]},"Vector":"x","ID":5}"#
        #expect(try decode(line).get() == NewMemory(vector: [1]))
    }

    @Test("a name given twice: the first occurrence counts, at the top and inside meta")
    func duplicates() throws {
        let m = try decode(#"{"id":"x","vector":[1],"id":"y","meta":{"a":1,"a":2,"b":{"c":1,"c":"2"}},"meta":{"z":0}}"#).get()
        #expect(m.id == "x")
        #expect(m.meta == ["a": .number(1), "b": .object(["c": .number(1)])])
        // A null first occurrence still counts (it is not replaced by a later one).
        #expect(try decode(#"{"vector":[1],"id":null,"id":"y"}"#).get().id == nil)
        // A wrong-typed second occurrence is ignored.
        #expect(try decode(#"{"vector":[1],"importance":0.5,"importance":"high"}"#).get().importance == 0.5)
    }

    @Test("strings: escapes, non-ASCII, NUL, escaped member names")
    func strings() throws {
        let m = try decode(#"{"\u0069d":"caf\u00e9 \ud83d\ude00","text":"line\nbreak \"quoted\" \\ tab\t nul\u0000 é😀","vector":[1],"tags":["\/"]}"#).get()
        #expect(m.id == "café 😀")
        #expect(m.text == "line\nbreak \"quoted\" \\ tab\t nul\u{0} é😀")
        #expect(m.tags == ["/"])
    }

    @Test("numbers: integers, exponents, extremes of a float and a double")
    func numbers() throws {
        #expect(try decode(#"{"vector":[0,-1,1E2,1e+2,-1.5e-3,16777217,3.4028234e38,1e-45,-0.0]}"#).get().vector.map(\.bitPattern)
            == [0, -1, 100, 100, -0.0015, 16_777_216, 3.4028234e38, .leastNonzeroMagnitude, -0.0].map { (f: Float) in f.bitPattern })
        // simdjson reads the integer -0 as 0; the sign of -0.0 is kept (above).
        #expect(try decode(#"{"vector":[-0]}"#).get().vector[0].bitPattern == Float(0).bitPattern)
        let m = try decode(#"{"vector":[1],"importance":-1e308,"meta":{"big":18446744073709551615,"neg":-9223372036854775808,"tiny":1e-400}}"#).get()
        #expect(m.importance == -1e308)
        #expect(m.meta == ["big": .number(Double(UInt64.max)), "neg": .number(-9_223_372_036_854_775_808), "tiny": .number(0)])
    }

    @Test("a decoder decodes many lines, and copies decode independently")
    func reuse() throws {
        var decoder = JSONLRecordDecoder(defaultNamespace: "d")
        var lines = (0..<50).map { #"{"id":"m\#($0)","vector":[\#($0)],"tags":["t\#($0)"],"meta":{"i":\#($0)}}"# }
        lines.insert(#"{"vector":[1],"text":"# + String(repeating: "[", count: 10) + "}", at: 25)
        var copy = decoder
        for (i, line) in lines.enumerated() {
            let result = Array(line.utf8).withUnsafeBytes { bytes in Result { () throws(EngramError) in try decoder.decode(bytes) } }
            let other = Array(line.utf8).withUnsafeBytes { bytes in Result { () throws(EngramError) in try copy.decode(bytes) } }
            #expect(result == other)
            if i == 25 { #expect(throws: EngramError.self) { try result.get() }; continue }
            let n = i < 25 ? i : i - 1
            #expect(try result.get() == NewMemory(id: "m\(n)", namespace: "d", vector: [Float(n)], tags: ["t\(n)"], meta: ["i": .number(Double(n))]))
        }
    }
}

@Suite("JSONLRecordDecoder: errors")
struct JSONLRecordDecoderErrorTests {
    static let structure = "malformed JSON (The JSON document has an improper structure: missing or superfluous commas, braces, missing keys, etc.)"
    static let number = "malformed JSON (a number is malformed or outside the range of a double or a 64-bit integer)"

    @Test("malformed JSON names what simdjson found")
    func malformedJSON() {
        #expect(failure(#"{"id":"torn","vector":[1,"#) == malformed(Self.structure))
        #expect(failure(#"{"vector":[1],}"#) == malformed(Self.structure))
        #expect(failure(#"{"vector":[1]} trailing"#) == malformed(Self.structure))
        #expect(failure(#"{"vector":[1]}{"vector":[2]}"#) == malformed(Self.structure))
        #expect(failure(#"{"vector":[01]}"#) == malformed(Self.number))
        #expect(failure(#"{"vector":[1.]}"#) == malformed(Self.number))
        #expect(failure(#"{"vector":[NaN]}"#) == malformed(Self.structure))
        #expect(failure(#"{"vector":[nan]}"#) == malformed("malformed JSON (Problem while parsing an atom starting with the letter 'n')"))
        #expect(failure(#"{"vector":[Infinity]}"#) == malformed(Self.structure))
        #expect(failure(#"{"text":"a\ud800"}"#) == malformed("malformed JSON (Problem while parsing a string)"))
        #expect(failure(#"{"text":"unclosed}"#) == malformed("malformed JSON (A string is opened, but never closed.)"))
        #expect(failure("") == malformed("malformed JSON (Empty: no JSON found)"))
        #expect(failure("   ") == malformed("malformed JSON (Empty: no JSON found)"))
    }

    @Test("a record that is not an object")
    func notAnObject() {
        for line in ["[]", #""x""#, "42", "null", "true", #"[{"vector":[1]}]"#] {
            #expect(failure(line) == malformed("record is not a JSON object"), "\(line)")
        }
    }

    @Test("fields of the wrong type")
    func wrongTypes() {
        let cases: [(String, String)] = [
            (#"{"id":5,"text":"a"}"#, "id"),
            (#"{"text":5}"#, "text"),
            (#"{"text":"a","namespace":[]}"#, "namespace"),
            (#"{"vector":"x"}"#, "vector"),
            (#"{"vector":{"0":1}}"#, "vector"),
            (#"{"vector":[1,"a"]}"#, "vector[1]"),
            (#"{"vector":[1,2,null]}"#, "vector[2]"),
            (#"{"vector":[[1]]}"#, "vector[0]"),
            (#"{"vector":[true]}"#, "vector[0]"),
            (#"{"vector":[1],"tags":"a"}"#, "tags"),
            (#"{"vector":[1],"tags":[1]}"#, "tags[0]"),
            (#"{"vector":[1],"tags":["a",null]}"#, "tags[1]"),
            (#"{"vector":[1],"meta":[1]}"#, "meta"),
            (#"{"vector":[1],"meta":"a=b"}"#, "meta"),
            (#"{"vector":[1],"importance":"1"}"#, "importance"),
            (#"{"vector":[1],"importance":true}"#, "importance"),
            (#"{"vector":[1],"time":true}"#, "time"),
            (#"{"vector":[1],"time":[1714564800]}"#, "time"),
            (#"{"vector":[1],"expiresAt":{}}"#, "expiresAt"),
            (#"{"vector":[1],"validTo":false}"#, "validTo"),
        ]
        for (line, field) in cases {
            #expect(failure(line) == malformed("field '\(field)' has the wrong type"), "\(line)")
        }
    }

    @Test("a record needs a vector or text")
    func neither() {
        for line in ["{}", #"{"text":""}"#, #"{"text":null}"#, #"{"id":"x","tags":["a"]}"#, #"{"vector":null,"text":""}"#] {
            #expect(failure(line) == malformed(#"record has neither "vector" nor "text""#), "\(line)")
        }
    }

    @Test("times that are neither ISO 8601 with a zone nor epoch seconds")
    func badTimes() {
        func message(_ field: String, _ text: String) -> EngramError {
            malformed("\(field): '\(text)' is not a time; use ISO 8601 with a zone (2024-05-01T12:00:00Z) or epoch seconds")
        }
        for text in ["yesterday", "", "2024-05-01T12:00:00", "2024-05-01 12:00:00Z", "2023-02-29T12:00:00Z", "inf", "nan", "1e999"] {
            #expect(failure(#"{"vector":[1],"time":"\#(text)"}"#) == message("time", text), "\(text)")
        }
        #expect(failure(#"{"vector":[1],"expiresAt":"soon"}"#) == message("expiresAt", "soon"))
        #expect(failure(#"{"vector":[1],"validTo":"2024-13-01T00:00:00Z"}"#) == message("validTo", "2024-13-01T00:00:00Z"))
        let long = String(repeating: "x", count: 500)
        #expect(failure(#"{"vector":[1],"time":"\#(long)"}"#) == message("time", String(repeating: "x", count: 100) + "…"))
    }

    @Test("numbers outside the range of a double, of 64-bit integers, or of a float in a vector")
    func outOfRange() {
        for line in [#"{"vector":[1e999]}"#, #"{"vector":[1],"importance":1e309}"#, #"{"vector":[1],"time":-1e999}"#,
                     #"{"vector":[1],"meta":{"x":1.8e308}}"#, #"{"vector":[1],"meta":{"x":18446744073709551616}}"#,
                     #"{"vector":[1],"other":-9223372036854775809}"#] {
            #expect(failure(line) == malformed(Self.number), "\(line)")
        }
        let cases: [(String, String)] = [
            ("1e39", "1e+39"), ("-1e39", "-1e+39"), ("3.4028236e38", "3.4028236e+38"),
            ("1e-50", "1e-50"), ("-1e-46", "-1e-46"),
        ]
        for (number, shown) in cases {
            #expect(failure(#"{"vector":[0,\#(number)]}"#)
                == malformed("field 'vector[1]' holds \(shown), which a 32-bit float cannot represent"), "\(number)")
        }
    }

    @Test("nesting: 512 levels like Foundation's JSONDecoder, not 513")
    func depth() {
        func nested(_ levels: Int) -> String {
            // The record's object is one level.
            #"{"vector":[1],"meta":{"x":"# + String(repeating: "[", count: levels - 2) + String(repeating: "]", count: levels - 2) + "}}"
        }
        #expect(memory(nested(512)) != nil)
        #expect(failure(nested(513)) == malformed("malformed JSON (The JSON document was too deep (too many nested objects and arrays))"))
        #expect(failure(#"{"vector":[1],"extra":"# + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}")
            == malformed("malformed JSON (The JSON document was too deep (too many nested objects and arrays))"))
    }
}
