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
        case .array, .object:
            let data = (try? JSONSerialization.data(withJSONObject: anyValue, options: [.sortedKeys, .fragmentsAllowed])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }
}
