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
}
