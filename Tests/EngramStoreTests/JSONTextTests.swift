import EngramStore
import Foundation
import Testing

@Suite("JSON text of metadata")
struct JSONTextTests {
    static let values: [JSONValue] = [
        .object([:]), .array([]), .null, .bool(true), .number(0), .number(-0.0), .number(42), .number(-7), .number(1.5),
        .number(0.1), .number(123_456_789_012_345), .number(1e15), .number(1e20), .number(-2.5e-8),
        .string(""), .string("plain"), .string("quote \" backslash \\ slash / tab \t newline \n cr \r"),
        .string("control \u{01}\u{1F} bell \u{07} backspace \u{08} formfeed \u{0C}"), .string("Grüße, 東京 🚀"),
        .object(["b": .number(1), "a": .array([.null, .bool(false), .string("x")]), "ä": .object(["z": .number(2.25), "y": .null])]),
    ]

    @Test("equals what JSONEncoder writes with sorted keys and unescaped slashes, and decodes to the same value")
    func matchesJSONEncoder() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for value in Self.values {
            let reference = String(decoding: try encoder.encode(value), as: UTF8.self)
            #expect(value.jsonText == reference, "\(value)")
            #expect(try JSONDecoder().decode(JSONValue.self, from: Data(value.jsonText.utf8)) == value)
        }
        #expect(JSONValue.number(.nan).jsonText == "null" && JSONValue.array([.number(.infinity)]).jsonText == "[null]")
    }

    @Test("a memory's metadata reads back equal from its record and from an index snapshot (both through simdjson), as JSONDecoder reads its text")
    func metadataRoundTrip() throws {
        let meta = Dictionary(uniqueKeysWithValues: Self.values.enumerated().map { ("v\($0.offset)", $0.element) })
        #expect(try JSONDecoder().decode([String: JSONValue].self, from: Data(JSONValue.object(meta).jsonText.utf8)) == meta)
        try withTempDirectory { dir in
            var memories = makeMemories(count: 1100, dimension: 8, seed: 3)
            memories[0].meta = meta
            let store = try MemoryStore.create(at: dir, settings: testSettings(.flat, dimension: 8))
            try store.upsert(memories)
            #expect(try store.get("m0").meta == meta)
            try store.close()  // 1,100 changes since the last snapshot: closing writes one
            let reopened = try MemoryStore.open(at: dir)
            #expect(try reopened.get("m0").meta == meta)
            // The catalog's copy, loaded from the snapshot, is what filters read.
            for (key, value) in meta {
                #expect(reopened.count(matching: MemoryFilter(metaEquals: [key: value])) == 1, "\(key) = \(value)")
            }
        }
    }
}
