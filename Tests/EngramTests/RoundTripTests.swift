import EngramBase
import Engram
import Foundation
import Testing

/// Generates random records and what they must decode to.
private struct RecordGenerator {
    var rng: SeededRandom

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }

    /// Text with the characters JSON must escape, non-ASCII and non-BMP characters.
    mutating func text(_ maxLength: Int = 20) -> String {
        let pieces = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "€", "\u{2028}", "😀", "{", "]", ","]
        return (0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
    }

    /// Any finite double: random bit patterns (subnormals, extremes) and plain values.
    mutating func double() -> Double {
        if chance(0.3) { return Double(Int.random(in: -1_000_000...1_000_000, using: &rng)) / 8 }
        while true {
            let value = Double(bitPattern: rng.next())
            if value.isFinite { return value }
        }
    }

    mutating func float() -> Float {
        if chance(0.3) { return Float(Int.random(in: -1000...1000, using: &rng)) / 64 }
        while true {
            let value = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            if value.isFinite { return value }
        }
    }

    mutating func json(depth: Int) -> (Any, JSONValue) {
        switch Int.random(in: 0..<(depth > 0 ? 7 : 5), using: &rng) {
        case 0: return (NSNull(), .null)
        case 1: let b = Bool.random(using: &rng); return (b, .bool(b))
        case 2: let d = double(); return (NSNumber(value: d), .number(d))
        case 3: let i = Int64.random(in: Int64.min...Int64.max, using: &rng); return (NSNumber(value: i), .number(Double(i)))
        case 4: let s = text(); return (s, .string(s))
        case 5:
            let items = (0..<Int.random(in: 0...4, using: &rng)).map { _ in json(depth: depth - 1) }
            return (items.map(\.0), .array(items.map(\.1)))
        default:
            let (any, value) = object(depth: depth - 1)
            return (any, .object(value))
        }
    }

    mutating func object(depth: Int) -> ([String: Any], [String: JSONValue]) {
        var any: [String: Any] = [:], values: [String: JSONValue] = [:]
        for _ in 0..<Int.random(in: 0...4, using: &rng) {
            let key = text(8)
            let (a, v) = json(depth: depth)
            any[key] = a
            values[key] = v
        }
        return (any, values)
    }

    /// A time as epoch seconds or as an ISO 8601 string, with its value.
    mutating func time() -> (Any, Double) {
        if chance(0.3) { let t = double(); return (NSNumber(value: t), t) }
        if chance(0.1) { let t = Double(Int.random(in: -10_000_000...10_000_000, using: &rng)) / 4; return ("\(t)", t) }
        let (year, month, day) = (Int.random(in: 1583...9999, using: &rng), Int.random(in: 1...12, using: &rng), Int.random(in: 1...28, using: &rng))
        let (hour, minute, second) = (Int.random(in: 0...23, using: &rng), Int.random(in: 0...59, using: &rng), Int.random(in: 0...59, using: &rng))
        let milliseconds = chance(0.5) ? Int.random(in: 0...999, using: &rng) : nil
        let offset = chance(0.5) ? 0 : Int.random(in: -1439...1439, using: &rng)
        var text = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", year, month, day, hour, minute, second)
        if let milliseconds { text += String(format: ".%03d", milliseconds) }
        text += offset == 0 ? "Z" : String(format: "%@%02d:%02d", offset < 0 ? "-" : "+", abs(offset) / 60, abs(offset) % 60)
        let seconds = Double(calendarSeconds(year, month, day, hour, minute, second) - offset * 60)
            + Double(milliseconds ?? 0) / 1000
        return (text, seconds)
    }

    /// A record as JSONSerialization takes it, and the memory it must decode to.
    mutating func record(defaultNamespace: String) -> ([String: Any], NewMemory) {
        var json: [String: Any] = [:]
        var m = NewMemory(namespace: defaultNamespace, vector: [])
        if chance(0.8) { m.id = text(); json["id"] = m.id! }
        if chance(0.5) { m.namespace = text(); json["namespace"] = m.namespace }
        let hasVector = chance(0.8)
        if hasVector {
            m.vector = (0..<(chance(0.1) ? 384 : Int.random(in: 0...40, using: &rng))).map { _ in float() }
            json["vector"] = m.vector.map { NSNumber(value: Double($0)) }
        }
        if !hasVector || chance(0.7) {
            m.text = text()
            if m.text.isEmpty && !hasVector { m.text = "x" }
            json["text"] = m.text
        }
        if chance(0.6) { m.tags = (0..<Int.random(in: 0...4, using: &rng)).map { _ in text(6) }; json["tags"] = m.tags }
        if chance(0.6) { (json["meta"], m.meta) = object(depth: 3) }
        if chance(0.7) { let (a, t) = time(); json["time"] = a; m.time = t }
        if chance(0.3) { let (a, t) = time(); json["expiresAt"] = a; m.expiresAt = t }
        if chance(0.3) { let (a, t) = time(); json["validTo"] = a; m.validTo = t }
        if chance(0.6) { m.importance = double(); json["importance"] = NSNumber(value: m.importance) }
        if chance(0.3) { json["createdAt"] = self.json(depth: 2).0 }
        return (json, m)
    }
}

@Suite("JSONLRecordDecoder: round trip")
struct RoundTripTests {
    @Test("5,000 random records serialised by JSONSerialization decode exactly (seeded)")
    func roundTrip() throws {
        let seed = testSeed("RoundTripTests")
        var generator = RecordGenerator(rng: SeededRandom(seed: seed))
        var decoder = JSONLRecordDecoder(defaultNamespace: "fallback")
        for _ in 0..<5000 {
            let (json, expected) = generator.record(defaultNamespace: "fallback")
            let line = try JSONSerialization.data(withJSONObject: json)
            let got = try line.withUnsafeBytes { bytes in try decoder.decode(bytes) }
            // Exact: Float and Double == tell every value apart but -0 from +0 (JSONSerialization
            // writes -0.0 as the integer -0, which reads as +0; see csimdjson.h).
            #expect(got == expected, "seed \(seed): \(String(decoding: line, as: UTF8.self))")
        }
    }
}
