import Engram
import EngramServer
import Foundation
import Testing

/// The socket API's own JSON coders against Foundation's `JSONDecoder` and `JSONEncoder`, the
/// reference: the same values from the same texts, the same JSON for the same values.
@Suite("Socket API: JSON straight from parsed values and to text")
struct JSONCodingTests {
    /// Random JSON pieces: strings with escapes and non-ASCII, numbers over many magnitudes.
    struct Maker {
        var random: SeededRandom

        mutating func bool() -> Bool { Bool.random(using: &random) }

        mutating func string() -> String {
            let pieces = ["a", "pump", "é", "\"", "\\", "\n", "\t", "\u{01}", "/", "😀", "PUMP-7", " ", "ß", "\u{7F}"]
            return (0..<Int.random(in: 0...6, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
        }

        mutating func number() -> Double {
            Double.random(in: -1...1, using: &random) * pow(10, Double(Int.random(in: -30...30, using: &random)))
        }

        mutating func vector(_ n: Int) -> JSONValue {
            // Floats exactly, and doubles a float must be rounded from.
            .array((0..<n).map { _ in .number(bool() ? Double(Float.random(in: -1...1, using: &random)) : Double.random(in: -1...1, using: &random)) })
        }

        mutating func time() -> JSONValue {
            let seconds = Double(Int.random(in: 0...2_000_000_000, using: &random)) + (bool() ? 0 : 0.25)
            return bool() ? .number(seconds) : .string(Timestamp(seconds).iso8601)
        }

        mutating func value(depth: Int = 0) -> JSONValue {
            switch Int.random(in: 0...(depth < 3 ? 6 : 3), using: &random) {
            case 0: return .null
            case 1: return .bool(bool())
            case 2: return .number(number())
            case 3: return .string(string())
            case 4: return .array((0..<Int.random(in: 0...3, using: &random)).map { _ in value(depth: depth + 1) })
            default: return meta(depth: depth + 1)
            }
        }

        mutating func meta(depth: Int = 0) -> JSONValue {
            .object(Dictionary((0..<Int.random(in: 0...4, using: &random)).map { _ in (string(), value(depth: depth)) }, uniquingKeysWith: { a, _ in a }))
        }

        /// Some of `members`, each kept with probability one half.
        mutating func some(_ members: [String: JSONValue]) -> JSONValue {
            .object(members.filter { _ in bool() })
        }

        mutating func queryRequest() -> JSONValue {
            some([
                "text": .string(string()), "vector": vector(Int.random(in: 1...8, using: &random)),
                "mode": .string(RetrievalMode.allCases.randomElement(using: &random)!.rawValue),
                "fusion": some(["method": .string(FusionMethod.allCases.randomElement(using: &random)!.rawValue),
                                "wText": .number(Double.random(in: 0...1, using: &random)), "candidates": .number(Double(Int.random(in: 1...500, using: &random)))]),
                "explain": .bool(bool()), "k": .number(Double(Int.random(in: 1...100, using: &random))),
                "filter": some(["namespace": .string(string()), "notNamespaces": .array([.string(string())]),
                                "tags": .array([.string(string()), .string(string())]), "anyTags": .array([.string(string())]),
                                "where": meta(), "since": time(), "until": time(), "asOf": time()]),
                "scoring": some(["wSim": .number(number()), "wTime": .number(number()), "wImportance": .number(number()),
                                 "halfLife": bool() ? .string("\(Int.random(in: 1...90, using: &random))d") : .number(Double(Int.random(in: 1...1_000_000, using: &random))),
                                 "decay": .string(DecayBasis.allCases.randomElement(using: &random)!.rawValue)]),
                "now": time(), "touch": .bool(bool()), "idsOnly": .bool(bool()), "graphHops": .number(Double(Int.random(in: 0...3, using: &random))),
            ])
        }

        mutating func upsertRequest() -> JSONValue {
            var request: [String: JSONValue] = ["memories": .array((0..<Int.random(in: 0...4, using: &random)).map { _ in
                some(["id": .string(string()), "text": .string(string()), "vector": vector(6), "namespace": .string(string()),
                      "tags": .array([.string(string())]), "meta": meta(), "time": time(), "expiresAt": time(), "validTo": time(),
                      "importance": .number(Double.random(in: 0...1, using: &random))])
            })]
            if bool() { request["sync"] = .bool(bool()) }
            return .object(request)
        }

        mutating func queryResponse() -> JSONValue {
            func entry(_ m: inout Maker) -> JSONValue { .object(["rank": .number(Double(Int.random(in: 1...50, using: &m.random))), "score": .number(m.number())]) }
            let hits: [JSONValue] = (0..<Int.random(in: 0...5, using: &random)).map { _ in
                var hit: [String: JSONValue] = ["id": .string(string()), "score": .number(number()), "similarity": .number(number()),
                                                "recency": .number(number()), "importance": .number(number()), "time": time()]
                if case let .object(more) = some([
                    "text": .string(string()), "namespace": .string(string()), "tags": .array([.string(string())]), "meta": meta(),
                    "sources": some(["vector": entry(&self), "text": entry(&self)]),
                    "terms": .array([.object(["term": .string(string()), "tf": .number(Double(Int.random(in: 1...9, using: &random))), "score": .number(number())])]),
                    "boost": .number(number()), "graph": .number(number()),
                ]) { hit.merge(more) { a, _ in a } }
                return .object(hit)
            }
            var response: [String: JSONValue] = ["results": .array(hits), "tookMs": .number(number()), "plan": .string(string()),
                                                 "scored": .number(Double(Int.random(in: 0...100_000, using: &random))),
                                                 "mode": .string(RetrievalMode.allCases.randomElement(using: &random)!.rawValue)]
            if bool() { response["terms"] = .array([.string(string())]) }
            if bool() { response["entities"] = .array([.string(string())]) }
            return .object(response)
        }
    }

    /// The value of `text` as simdjson reads it (the server's path).
    static func parsed(_ text: String) throws -> JSONValue {
        let parser = try SimdJSONParser(maxDepth: 64, malformedReason: .malformedRequest)
        return try Array(text.utf8).withUnsafeBytes { try parser.parseValue($0) }
    }

    /// Decodes `json` with both decoders and expects the same value; encodes that value with
    /// both encoders and expects the same JSON.
    static func agree<T: Codable & Equatable>(_ type: T.Type, _ json: JSONValue, seed: UInt64) throws {
        let text = json.jsonText
        let reference = try JSONDecoder().decode(T.self, from: Data(text.utf8))
        let decoded = try JSONValueDecoder().decode(T.self, from: try parsed(text))
        #expect(decoded == reference, "seed \(seed): \(text)")
        let written = try JSONTextEncoder().encode(reference)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // The same JSON (as values: key order is free), and the same value read back.
        #expect(try JSONDecoder().decode(JSONValue.self, from: written) == JSONDecoder().decode(JSONValue.self, from: try encoder.encode(reference)),
                "seed \(seed): \(String(decoding: written, as: UTF8.self))")
        #expect(try JSONDecoder().decode(T.self, from: written) == reference, "seed \(seed)")
    }

    @Test("random requests and answers: decoded as JSONDecoder decodes them, encoded as JSONEncoder encodes them (seeded)")
    func agreeWithFoundation() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("JSONCodingTests seed \(seed)")
        var maker = Maker(random: SeededRandom(seed: seed))
        for _ in 0..<300 {
            try Self.agree(QueryRequest.self, maker.queryRequest(), seed: seed)
            try Self.agree(UpsertRequest.self, maker.upsertRequest(), seed: seed)
            try Self.agree(QueryResponse.self, maker.queryResponse(), seed: seed)
            try Self.agree(JSONValue.self, maker.meta(), seed: seed)
        }
    }

    /// The message `EngramService` makes of a decoding failure of `params`.
    static func failure<T: Decodable>(_ type: T.Type, _ params: String) throws -> String? {
        do {
            _ = try JSONValueDecoder().decode(T.self, from: try parsed(params))
            return nil
        } catch let error as DecodingError {
            return EngramService.describe(error)
        }
    }

    @Test("a field of the wrong kind, a missing one, a fraction for an integer, a number beyond a float: each named by its path")
    func decodingErrors() throws {
        #expect(try Self.failure(QueryRequest.self, #"{"k":"ten"}"#) == "params.k: expected an integer")
        #expect(try Self.failure(QueryRequest.self, #"{"k":1.5}"#) == "params.k: 1.5 is not an integer of Int's range")
        #expect(try Self.failure(QueryRequest.self, #"{"vector":[0.5,"x"]}"#) == "params.vector[1]: expected a number")
        #expect(try Self.failure(QueryRequest.self, #"{"vector":[0.5,1e39]}"#) == "params.vector[1]: 1e+39 does not fit in a 32-bit float")
        #expect(try Self.failure(QueryRequest.self, #"{"filter":{"tags":[1]}}"#) == "params.filter.tags[0]: expected a string")
        #expect(try Self.failure(QueryRequest.self, #"{"filter":[]}"#) == "params.filter: expected an object")
        #expect(try Self.failure(QueryRequest.self, #"{"mode":"fuzzy"}"#)?.hasPrefix("params.mode: ") == true)
        #expect(try Self.failure(UpsertRequest.self, #"{}"#) == "params.memories is missing")
        #expect(try Self.failure(UpsertRequest.self, #"{"memories":null}"#) == "params.memories: expected an array, found null")
        #expect(try Self.failure(GetRequest.self, #"{"id":"a","includeVector":1}"#) == "params.includeVector: expected true or false")
        // Unknown keys are ignored, as JSONDecoder ignores them.
        #expect(try Self.failure(GetRequest.self, #"{"id":"a","colour":"red"}"#) == nil)
    }

    /// Containers opened by hand: nested ones, a value that encodes nothing, a second element
    /// after a nested container closed implicitly.
    struct Nested: Encodable {
        func encode(to encoder: Encoder) throws {
            enum Key: String, CodingKey { case a, b, c, d }
            var c = encoder.container(keyedBy: Key.self)
            var inner = c.nestedContainer(keyedBy: Key.self, forKey: .a)
            try inner.encode(1, forKey: .b)
            var list = inner.nestedUnkeyedContainer(forKey: .c)
            try list.encode("x")
            var deeper = list.nestedContainer(keyedBy: Key.self)
            try deeper.encodeNil(forKey: .d)
            try list.encode(Float(0.1))
            try c.encode(Empty(), forKey: .b)
            try c.encode([Empty(), Empty()], forKey: .c)
            try c.encode(2.5e-8, forKey: .d)
        }
    }

    struct Empty: Encodable {
        func encode(to encoder: Encoder) throws {}
    }

    @Test("hand-made containers nest and close as JSONEncoder's; a NaN is an encoding error")
    func handMadeContainers() throws {
        let written = try JSONTextEncoder().encode(Nested())
        #expect(String(decoding: written, as: UTF8.self) == #"{"a":{"b":1,"c":["x",{"d":null},0.1]},"b":{},"c":[{},{}],"d":2.5e-08}"#)
        #expect(try JSONDecoder().decode(JSONValue.self, from: written) == JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(Nested())))
        let hit = try JSONDecoder().decode(QueryHit.self, from: Data(#"{"id":"a","score":0,"similarity":0,"recency":0,"importance":0,"time":0}"#.utf8))
        var bad = hit
        bad.score = .nan
        #expect { try JSONTextEncoder().encode(bad) } throws: { error in
            guard case let .invalidValue(_, context) = error as? EncodingError else { return false }
            return context.codingPath.map(\.stringValue) == ["score"]
        }
        // Within an answer's results (written field by field when every number is finite).
        var response = try JSONDecoder().decode(QueryResponse.self, from: Data(#"{"results":[],"tookMs":1,"plan":"flat","scored":2,"mode":"vector"}"#.utf8))
        var explained = hit
        explained.terms = [try JSONDecoder().decode(TermScore.self, from: Data(#"{"term":"pump","tf":2,"score":1.5}"#.utf8))]
        response.results = [hit, explained]
        #expect(String(decoding: try JSONTextEncoder().encode(response), as: UTF8.self) == #"{"results":[{"id":"a","score":0,"similarity":0,"recency":0,"importance":0,"time":"1970-01-01T00:00:00Z"},{"id":"a","score":0,"similarity":0,"recency":0,"importance":0,"time":"1970-01-01T00:00:00Z","terms":[{"term":"pump","tf":2,"score":1.5}]}],"tookMs":1,"plan":"flat","scored":2,"mode":"vector"}"#)
        // Times outside the years 0000–9999, which the byte writer leaves to the formatter
        // (`Timestamp.iso8601`), come out as JSONEncoder writes them (whose key order differs).
        var far = hit, before = hit
        far.time = Timestamp(253_402_300_800.5) // 10000-01-01T00:00:00.500Z
        before.time = Timestamp(-62_167_219_201) // a second before 0000-01-01
        response.results = [far, before]
        let farText = String(decoding: try JSONTextEncoder().encode(response), as: UTF8.self)
        #expect(farText.contains(#""time":"10000-01-01T00:00:00.500Z""#))
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(farText.utf8))
                == JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(response)))
        explained.terms![0].score = .infinity
        response.results = [hit, explained]
        #expect { try JSONTextEncoder().encode(response) } throws: { error in
            guard case let .invalidValue(_, context) = error as? EncodingError else { return false }
            return context.codingPath.map(\.stringValue) == ["results", "Index 1", "terms", "Index 0", "score"]
        }
    }
}
