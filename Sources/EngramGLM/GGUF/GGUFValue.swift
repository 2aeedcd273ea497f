/// One metadata value of a GGUF file (all thirteen GGUF value types).
public enum GGUFValue: Sendable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), float32(Float), bool(Bool)
    case string(String)
    case array(GGUFArray)
    case uint64(UInt64), int64(Int64), float64(Double)

    /// The value as an integer, when it is one of the integer types (or a bool).
    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int64(let v): return Int(v)
        case .bool(let v): return v ? 1 : 0
        default: return nil
        }
    }

    /// The value as a floating-point number, when it is numeric.
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return intValue.map(Double.init)
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return intValue.map { $0 != 0 }
    }

    /// The elements of an array value (materialised; prefer `stringArray` / `intArray` for
    /// large arrays).
    public var arrayValue: [GGUFValue]? {
        if case .array(let a) = self { return Array(a) }
        return nil
    }

    /// The elements of an array of strings.
    public var stringArray: [String]? {
        if case .array(let a) = self, case .strings(let t) = a.storage { return (0..<t.count).map(t.string) }
        return nil
    }

    /// The elements of an array of integers.
    public var intArray: [Int]? {
        if case .array(let a) = self, case .integers(let v, _) = a.storage { return v.map { Int($0) } }
        return nil
    }

    public var description: String {
        switch self {
        case .string(let s): return s.count > 80 ? "\"\(s.prefix(77))...\"" : "\"\(s)\""
        case .array(let a):
            let head = a.prefix(4).map(\.description).joined(separator: ", ")
            return "[\(head)\(a.count > 4 ? ", ..." : "")] (\(a.count) values)"
        case .bool(let b): return String(b)
        case .float32(let v): return String(v)
        case .float64(let v): return String(v)
        default: return String(intValue ?? 0)
        }
    }
}

/// A GGUF array value, stored compactly: strings in one byte buffer with offsets, numbers
/// widened into one typed array (the vocabulary and merges of a model are ~10⁵ strings).
public struct GGUFArray: Sendable, RandomAccessCollection {
    enum Storage: Sendable {
        case strings(StringTable)
        /// Integer values and the GGUF element type they came from.
        case integers([Int64], UInt32)
        case floats([Double], UInt32)
        case values([GGUFValue])
    }

    /// Strings packed into one buffer.
    struct StringTable: Sendable {
        var bytes: [UInt8] = []
        var ends: [UInt32] = []
        var count: Int { ends.count }
        func string(_ i: Int) -> String {
            let start = i == 0 ? 0 : Int(ends[i - 1])
            return String(decoding: bytes[start..<Int(ends[i])], as: UTF8.self)
        }
    }

    let storage: Storage

    public var startIndex: Int { 0 }
    public var endIndex: Int {
        switch storage {
        case .strings(let t): return t.count
        case .integers(let v, _): return v.count
        case .floats(let v, _): return v.count
        case .values(let v): return v.count
        }
    }

    public subscript(i: Int) -> GGUFValue {
        switch storage {
        case .strings(let t): return .string(t.string(i))
        case .integers(let v, let type):
            let x = v[i]
            switch type {
            case 0: return .uint8(UInt8(truncatingIfNeeded: x))
            case 1: return .int8(Int8(truncatingIfNeeded: x))
            case 2: return .uint16(UInt16(truncatingIfNeeded: x))
            case 3: return .int16(Int16(truncatingIfNeeded: x))
            case 4: return .uint32(UInt32(truncatingIfNeeded: x))
            case 5: return .int32(Int32(truncatingIfNeeded: x))
            case 7: return .bool(x != 0)
            case 10: return .uint64(UInt64(bitPattern: x))
            default: return .int64(x)
            }
        case .floats(let v, let type): return type == 6 ? .float32(Float(v[i])) : .float64(v[i])
        case .values(let v): return v[i]
        }
    }
}
