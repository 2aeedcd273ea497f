import Engram

/// Decodes a `Decodable` straight from a parsed `JSONValue` (a request's params, read by
/// simdjson), with `JSONDecoder`'s rules: unknown keys ignored, a missing key or a value of
/// the wrong kind a `DecodingError` naming its coding path.
///
/// Hand-written because Foundation's `JSONDecoder` reads only bytes: the params of each
/// request would be written back to text and parsed again, and its generic decoding of a
/// 384-number vector was a fifth of the daemon's time under load. Arrays of `Float` and
/// `JSONValue` objects are read in one step.
package struct JSONValueDecoder {
    package init() {}

    package func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try ValueDecoder(value: value, parentPath: [], key: nil).unbox(T.self)
    }
}

/// The decoder of one value. Its coding path is made only when asked for (a container, an
/// error): an array of keys per field read cost more than the reading.
private struct ValueDecoder: Decoder {
    let value: JSONValue
    let parentPath: [CodingKey]
    let key: CodingKey?
    var codingPath: [CodingKey] { key.map { parentPath + [$0] } ?? parentPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case let .object(members) = value else { throw mismatch([String: JSONValue].self) }
        return KeyedDecodingContainer(KeyedContainer<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case let .array(items) = value else { throw mismatch([JSONValue].self) }
        return UnkeyedContainer(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { self }

    func mismatch(_ type: Any.Type) -> DecodingError {
        if case .null = value {
            return .valueNotFound(type, .init(codingPath: codingPath, debugDescription: "found null"))
        }
        return .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "found \(value.kindName)"))
    }

    /// `T` from this value: the fast paths first, then `T`'s own `init(from:)`.
    func unbox<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == Leaf.floats { return try floats() as! T }
        if T.self == Leaf.jsonValue { return value as! T }
        if T.self == Leaf.object {
            guard case let .object(members) = value else { throw mismatch(T.self) }
            return members as! T
        }
        if T.self == Leaf.string { return try decode(String.self) as! T }
        if T.self == Leaf.double { return try decode(Double.self) as! T }
        if T.self == Leaf.int { return try decode(Int.self) as! T }
        if T.self == Leaf.bool { return try decode(Bool.self) as! T }
        return try T(from: self)
    }

    /// The metatypes of the leaves read without a container, fetched once (a generic type's
    /// metadata is looked up in a table each time it is named).
    private enum Leaf {
        static let floats: Any.Type = [Float].self
        static let jsonValue: Any.Type = JSONValue.self
        static let object: Any.Type = [String: JSONValue].self
        static let string: Any.Type = String.self
        static let double: Any.Type = Double.self
        static let int: Any.Type = Int.self
        static let bool: Any.Type = Bool.self
    }

    private func floats() throws -> [Float] {
        guard case let .array(items) = value else { throw mismatch([Float].self) }
        var out = [Float]()
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case let .number(n) = item, let f = Self.float(n) else {
                // The element's path is made only here: an array of keys per number cost more than the number.
                let element = ValueDecoder(value: item, parentPath: codingPath, key: IndexKey(i))
                if case let .number(n) = item { throw element.tooLarge(n) }
                throw element.mismatch(Float.self)
            }
            out.append(f)
        }
        return out
    }

    /// `n` as a `Float`; nil when it does not fit.
    static func float(_ n: Double) -> Float? {
        let f = Float(n)
        return f.isFinite ? f : nil
    }

    func tooLarge(_ n: Double) -> DecodingError {
        .dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(n) does not fit in a 32-bit float"))
    }

    func number() throws -> Double {
        guard case let .number(n) = value else { throw mismatch(Double.self) }
        return n
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        guard case let .number(n) = value else { throw mismatch(I.self) }
        guard let i = I(exactly: n) else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(JSONValue.number(n).jsonText) is not an integer of \(I.self)'s range"))
        }
        return i
    }
}

extension ValueDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        guard case let .bool(b) = value else { throw mismatch(Bool.self) }
        return b
    }

    func decode(_ type: String.Type) throws -> String {
        guard case let .string(s) = value else { throw mismatch(String.self) }
        return s
    }

    func decode(_ type: Double.Type) throws -> Double { try number() }
    func decode(_ type: Float.Type) throws -> Float {
        let n = try number()
        guard let f = Self.float(n) else { throw tooLarge(n) }
        return f
    }
    func decode(_ type: Int.Type) throws -> Int { try integer(Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(UInt64.self) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try unbox(T.self) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let codingPath: [CodingKey]

    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    private func child(_ key: Key) throws -> ValueDecoder {
        guard let value = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for \(key.stringValue)"))
        }
        return ValueDecoder(value: value, parentPath: codingPath, key: key)
    }

    func decodeNil(forKey key: Key) throws -> Bool { try child(key).decodeNil() }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).unbox(T.self) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = members[key.stringValue], value != .null else { return nil }
        return try ValueDecoder(value: value, parentPath: codingPath, key: key).unbox(T.self)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try child(key).unkeyedContainer() }

    func superDecoder() throws -> Decoder {
        ValueDecoder(value: members["super"] ?? .null, parentPath: codingPath, key: IndexKey(string: "super"))
    }

    func superDecoder(forKey key: Key) throws -> Decoder {
        ValueDecoder(value: members[key.stringValue] ?? .null, parentPath: codingPath, key: key)
    }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [CodingKey]
    var currentIndex = 0

    init(items: [JSONValue], codingPath: [CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> ValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "the array has no more elements"))
        }
        defer { currentIndex += 1 }
        return ValueDecoder(value: items[currentIndex], parentPath: codingPath, key: IndexKey(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().unbox(T.self) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> Decoder { try next() }
}

/// An array index or a fixed name in a coding path.
struct IndexKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(_ index: Int) {
        stringValue = "Index \(index)"
        intValue = index
    }

    init(string: String) {
        stringValue = string
        intValue = nil
    }

    init?(stringValue: String) { self.init(string: stringValue) }
    init?(intValue: Int) { self.init(intValue) }
}
