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
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the value's JSON text (as `jsonText`) to `out`.
    package func write(to out: inout [UInt8]) {
        switch self {
        case .null: out += "null".utf8
        case let .bool(b): out += (b ? "true" : "false").utf8
        case let .number(n):
            if !n.isFinite {
                out += "null".utf8
            } else if n.rounded() == n, abs(n) < 1e15 {
                out += String(Int64(n)).utf8
            } else {
                Self.writeNumber(n, to: &out)
            }
        case let .string(s): Self.writeString(s, to: &out)
        case let .array(items):
            out.append(0x5B)
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(0x2C) }
                item.write(to: &out)
            }
            out.append(0x5D)
        case let .object(members):
            out.append(0x7B)
            func write(_ key: String, _ value: JSONValue) {
                Self.writeString(key, to: &out)
                out.append(0x3A)
                value.write(to: &out)
            }
            if members.count == 1, let only = members.first {
                write(only.key, only.value)  // (one key: nothing to sort)
            } else {
                // The members' positions sorted by key in a temporary buffer (on the stack for
                // a small object): the members themselves are not copied into an array.
                withUnsafeTemporaryAllocation(of: [String: JSONValue].Index.self, capacity: members.count) { buffer in
                    var order = buffer
                    _ = order.initialize(from: members.indices)
                    order.sort { members[$0].key < members[$1].key }
                    for (i, at) in order.enumerated() {
                        if i > 0 { out.append(0x2C) }
                        write(members[at].key, members[at].value)
                    }
                    _ = order.deinitialize()
                }
            }
            out.append(0x7D)
        }
    }

    /// A finite number in its shortest round-trip digits, as `JSONEncoder` writes it (no ".0"
    /// on an integral value).
    package static func writeNumber<F: BinaryFloatingPoint & LosslessStringConvertible>(_ n: F, to out: inout [UInt8]) {
        var text = n.description
        text.withUTF8 { bytes in
            let integral = bytes.count > 2 && bytes[bytes.count - 2] == 0x2E && bytes[bytes.count - 1] == 0x30
            out.append(contentsOf: integral ? UnsafeBufferPointer(rebasing: bytes.dropLast(2)) : bytes)
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped, the rest (UTF-8) as is.
    package static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { bytes in
            guard bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else {
                out.append(contentsOf: bytes)
                return
            }
            for b in bytes {
                switch b {
                case 0x22: out += #"\""#.utf8
                case 0x5C: out += #"\\"#.utf8
                case 0x0A: out += #"\n"#.utf8
                case 0x0D: out += #"\r"#.utf8
                case 0x09: out += #"\t"#.utf8
                case 0x08: out += #"\b"#.utf8
                case 0x0C: out += #"\f"#.utf8
                case ..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out += #"\u00"#.utf8
                    out.append(hex[Int(b >> 4)])
                    out.append(hex[Int(b & 0xF)])
                default: out.append(b)
                }
            }
        }
        out.append(0x22)
    }
}
