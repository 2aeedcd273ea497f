import EngramGraph
import Foundation
import Testing

@Suite("Entity mentions in text")
struct MentionExtractorTests {
    @Test("names match whole words in any case and punctuation, the longest first; patterns give keys or typed names; order of first mention")
    func mentions() throws {
        let x = try MentionExtractor(names: ["Pump 7": "devices:7", "Pump": "part", "Alice Smith": "person", "Hall A": "site"],
                                     patterns: ["INC-(\\d+) -> incidents:$1", "(?i)sensor \\d+ -> sensor"], limit: 10)
        #expect(x.entities(in: "PUMP-7 tripped; Alice  SMITH saw it in hall a (INC-42, Sensor 9).")
            == ["devices:7", "person:alice smith", "site:hall a", "incidents:42", "sensor:sensor 9"])
        // "Pump 7" wins over "Pump" where both match; "pump" alone is the part; no partial words.
        #expect(x.entities(in: "a pump, then pump 7, then pumps and apump7") == ["part:pump", "devices:7"])
        // Each entity once, at its first mention; the limit keeps the first ones.
        #expect(x.entities(in: "INC-1 INC-2 INC-1") == ["incidents:1", "incidents:2"])
        let two = try MentionExtractor(names: [:], patterns: ["INC-(\\d+) -> incidents:$1"], limit: 2)
        #expect(two.entities(in: "INC-1 INC-2 INC-3") == ["incidents:1", "incidents:2"])
        #expect(x.entities(in: "nothing here") == [])
        #expect(try MentionExtractor(names: [:], patterns: [], limit: 5).isEmpty)
    }

    @Test("a pattern without an entity, a regular expression that does not compile, a name without letters are refused")
    func refused() {
        for (names, patterns, fragment) in [([:], ["INC-\\d+"], "REGEX -> ENTITY"), ([:], ["INC-( -> incident"], "not a valid regular expression"),
                                            ([:], ["INC -> "], "names no entity"), (["--": "x"], [], "no letter or digit")] as [([String: String], [String], String)] {
            #expect("\(patterns) \(names)") { try MentionExtractor(names: names, patterns: patterns, limit: 5) } throws: {
                ($0 as? MentionExtractor.Invalid)?.message.contains(fragment) == true
            }
        }
    }
}
