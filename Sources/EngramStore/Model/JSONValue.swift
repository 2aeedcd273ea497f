import Foundation

/// A JSON value, used for a memory's free-form `meta` object.
public enum JSONValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let b = try? container.decode(Bool.self) { self = .bool(b) }
        else if let n = try? container.decode(Double.self) { self = .number(n) }
        else if let s = try? container.decode(String.self) { self = .string(s) }
        else if let a = try? container.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(b): try container.encode(b)
        case let .number(n):
            if n.rounded() == n, abs(n) < 1e15 { try container.encode(Int64(n)) } else { try container.encode(n) }
        case let .string(s): try container.encode(s)
        case let .array(a): try container.encode(a)
        case let .object(o): try container.encode(o)
        }
    }

    /// The value as `JSONSerialization` accepts it.
    public var anyValue: Any {
        switch self {
        case .null: return NSNull()
        case let .bool(b): return b
        case let .number(n): return (n.rounded() == n && abs(n) < 1e15) ? Int64(n) as Any : n
        case let .string(s): return s
        case let .array(a): return a.map(\.anyValue)
        case let .object(o): return o.mapValues(\.anyValue)
        }
    }

    /// Parses `key=value` style command-line values: numbers, `true`/`false`, `null`,
    /// otherwise a string.
    public static func parseScalar(_ text: String) -> JSONValue {
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if text == "null" { return .null }
        if let n = Double(text), n.isFinite, text.first.map({ $0.isNumber || $0 == "-" }) == true { return .number(n) }
        return .string(text)
    }

    public var description: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return String(b)
        case let .number(n): return (n.rounded() == n && abs(n) < 1e15) ? String(Int64(n)) : String(n)
        case let .string(s): return s
        case .array, .object: return jsonText
        }
    }

    /// Compact JSON text, object keys sorted: what `JSONEncoder` with `.sortedKeys` and
    /// `.withoutEscapingSlashes` writes for this value (integral numbers below 10^15 without a
    /// fraction; a number that is not finite, which JSON cannot hold, as null). Written by hand
    /// because a memory's metadata is serialised with every record and every snapshot, where
    /// `JSONEncoder`'s generic machinery cost more than the rest of the record.
    public var jsonText: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .number(n):
            if !n.isFinite {
                out += "null"
            } else if n.rounded() == n, abs(n) < 1e15 {
                out += String(Int64(n))
            } else {
                // Shortest round-trip digits, as JSONEncoder writes them (no ".0" on an integer).
                let text = String(n)
                out += text.hasSuffix(".0") ? String(text.dropLast(2)) : text
            }
        case let .string(s): Self.writeString(s, to: &out)
        case let .array(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case let .object(members):
            out += "{"
            for (i, key) in members.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                Self.writeString(key, to: &out)
                out += ":"
                members[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped, the rest as is.
    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        var plain = true
        for unit in s.utf8 where unit < 0x20 || unit == 0x22 || unit == 0x5C {
            plain = false
            break
        }
        if plain {
            out += s
        } else {
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
