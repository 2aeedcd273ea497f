/// One metadata value of a GGUF file (all thirteen GGUF value types).
public enum GGUFValue: Sendable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), float32(Float), bool(Bool)
    case string(String)
    case array([GGUFValue])
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

    public var arrayValue: [GGUFValue]? {
        if case .array(let a) = self { return a }
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
