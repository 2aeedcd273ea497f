import Engram
import Foundation

/// Encodes an `Encodable` as compact JSON text in one pass, as `JSONEncoder` with
/// `.withoutEscapingSlashes` would (keys in the order they are encoded, a `Float` or `Double`
/// in its shortest round-trip digits without a trailing `.0`, a number that is not finite an
/// `EncodingError`), for the answers of the socket API.
///
/// Hand-written because `JSONEncoder` builds a tree of boxed values before writing any byte,
/// which cost a seventh of the daemon's time under a query load; this one writes as it goes.
/// A container is closed when the value that opened it has been encoded, or when its parent
/// container moves on to its next element.
package struct JSONTextEncoder {
    package init() {}

    package func encode(_ value: some Encodable) throws -> Data {
        let writer = TextWriter()
        try writer.write(value, parentPath: [], key: nil)
        writer.close(downTo: 0)
        return Data(writer.out)
    }
}

/// The text written so far and the containers open in it, innermost last.
private final class TextWriter {
    enum Frame {
        case object(empty: Bool)
        case array(empty: Bool)
    }

    // Unchecked: one encoding uses a writer, on one thread, and no access to these overlaps
    // another (nothing is called back while `out` is lent); the run-time checks of a class's
    // properties were a quarter of the writing time.
    @exclusivity(unchecked) var out: [UInt8] = []
    @exclusivity(unchecked) var open: [Frame] = []

    init() { out.reserveCapacity(4096) }

    /// Closes the containers above `level`.
    func close(downTo level: Int) {
        while open.count > level {
            switch open.removeLast() {
            case .object: out.append(0x7D)
            case .array: out.append(0x5D)
            }
        }
    }

    /// Starts an element of the container at `level`: closes what its previous element left
    /// open, then writes the separator (and `key`, in an object).
    func element(at level: Int, key: String?) {
        close(downTo: level + 1)
        switch open[level] {
        case let .object(empty):
            if !empty { out.append(0x2C) }
            JSONValue.writeString(key ?? "", to: &out)
            out.append(0x3A)
            open[level] = .object(empty: false)
        case let .array(empty):
            if !empty { out.append(0x2C) }
            open[level] = .array(empty: false)
        }
    }

    /// Opens a container; its level.
    func push(_ frame: Frame) -> Int {
        switch frame {
        case .object: out.append(0x7B)
        case .array: out.append(0x5B)
        }
        open.append(frame)
        return open.count - 1
    }

    /// Writes `value`, the element `key` of the container at `parentPath` (the path is made
    /// only for an error or a container: an array of keys per element cost more than the
    /// writing). The common leaf types are told by their metatype, without a dynamic cast.
    func write<T: Encodable>(_ value: T, parentPath: [CodingKey], key: CodingKey?) throws {
        if T.self == Leaf.string {
            JSONValue.writeString(value as! String, to: &out)
        } else if T.self == Leaf.double {
            try number(value as! Double, parentPath, key)
        } else if T.self == Leaf.floats {
            out.append(0x5B)
            for (i, n) in (value as! [Float]).enumerated() {
                if i > 0 { out.append(0x2C) }
                try number(n, parentPath, key)
            }
            out.append(0x5D)
        } else if T.self == Leaf.jsonValue {
            (value as! JSONValue).write(to: &out)
        } else if T.self == Leaf.object {
            JSONValue.object(value as! [String: JSONValue]).write(to: &out)
        } else if T.self == Leaf.strings {
            out.append(0x5B)
            for (i, s) in (value as! [String]).enumerated() {
                if i > 0 { out.append(0x2C) }
                JSONValue.writeString(s, to: &out)
            }
            out.append(0x5D)
        } else if T.self == Leaf.timestamp {
            (value as! Timestamp).writeJSON(to: &out)
        } else if T.self == Leaf.hits, case let hits = value as! [QueryHit], hits.allSatisfy(\.numbersAreFinite) {
            try self.hits(hits)
        } else if T.self == Leaf.queryResponse, case let response = value as! QueryResponse, response.tookMs.isFinite,
                  response.results.allSatisfy(\.numbersAreFinite) {
            try queryResponse(response)
        } else {
            let level = open.count, start = out.count
            try value.encode(to: TextEncoder(writer: self, parentPath: parentPath, key: key))
            close(downTo: level)
            // A value that encoded nothing is an empty object, as with JSONEncoder.
            if out.count == start { out += "{}".utf8 }
        }
    }

    /// The metatypes of the leaves written without an encoder, fetched once (a generic type's
    /// metadata is looked up in a table each time it is named).
    private enum Leaf {
        static let string: Any.Type = String.self
        static let double: Any.Type = Double.self
        static let floats: Any.Type = [Float].self
        static let jsonValue: Any.Type = JSONValue.self
        static let object: Any.Type = [String: JSONValue].self
        static let strings: Any.Type = [String].self
        static let hits: Any.Type = [QueryHit].self
        static let queryResponse: Any.Type = QueryResponse.self
        static let timestamp: Any.Type = Timestamp.self
    }

    func number<F: BinaryFloatingPoint & LosslessStringConvertible>(_ n: F, _ parentPath: [CodingKey], _ key: CodingKey?) throws {
        guard n.isFinite else {
            let codingPath = key.map { parentPath + [$0] } ?? parentPath
            throw EncodingError.invalidValue(n, .init(codingPath: codingPath, debugDescription: "\(n) is not a JSON number"))
        }
        JSONValue.writeNumber(n, to: &out)
    }

    func integer(_ n: some FixedWidthInteger) { out += String(n).utf8 }

    /// Query results written field by field, in the order and with the omissions of their
    /// synthesized `encode(to:)` (the keyed containers of which cost ~4.7 µs a hit, a tenth of
    /// the daemon's time under a query load). The rare nested parts (`sources`, `terms`) go
    /// through the encoder. Only for hits whose numbers are all finite: the others take the
    /// encoder's path, whose error names the number's coding path.
    private func hits(_ hits: [QueryHit]) throws {
        func field(_ name: StaticString, _ text: String?) {
            guard let text else { return }
            key(name)
            JSONValue.writeString(text, to: &out)
        }
        func field(_ name: StaticString, _ number: Double?) {
            guard let number else { return }
            key(name)
            JSONValue.writeNumber(number, to: &out)
        }
        func field(_ name: StaticString, encoding value: (some Encodable)?) throws {
            guard let value else { return }
            key(name)
            try write(value, parentPath: [], key: nil)
        }
        out.append(0x5B)
        for (i, hit) in hits.enumerated() {
            if i > 0 { out.append(0x2C) }
            out += "{\"id\":".utf8
            JSONValue.writeString(hit.id, to: &out)
            field("score", hit.score)
            field("similarity", hit.similarity)
            field("recency", hit.recency)
            field("importance", hit.importance)
            key("time")
            hit.time.writeJSON(to: &out)
            field("text", hit.text)
            field("namespace", hit.namespace)
            try field("tags", encoding: hit.tags)
            if let meta = hit.meta {
                key("meta")
                JSONValue.object(meta).write(to: &out)
            }
            try field("sources", encoding: hit.sources)
            try field("terms", encoding: hit.terms)
            field("boost", hit.boost)
            field("graph", hit.graph)
            out.append(0x7D)
        }
        out.append(0x5D)
    }
}

extension TextWriter {
    /// `,"name":`, a member's key after the first.
    private func key(_ name: StaticString) {
        out.append(0x2C)
        out.append(0x22)
        out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        out += "\":".utf8
    }

    /// A query's answer written field by field as its synthesized `encode(to:)` would (the
    /// keyed containers of its five fields cost half as much as writing its ten hits). Only
    /// for an answer whose numbers are all finite.
    fileprivate func queryResponse(_ response: QueryResponse) throws {
        out += "{\"results\":".utf8
        try hits(response.results)
        key("tookMs")
        JSONValue.writeNumber(response.tookMs, to: &out)
        key("plan")
        JSONValue.writeString(response.plan, to: &out)
        key("scored")
        integer(response.scored)
        key("mode")
        JSONValue.writeString(response.mode.rawValue, to: &out)
        if let terms = response.terms {
            key("terms")
            try write(terms, parentPath: [], key: nil)
        }
        if let entities = response.entities {
            key("entities")
            try write(entities, parentPath: [], key: nil)
        }
        out.append(0x7D)
    }
}

private struct TextEncoder: Encoder {
    let writer: TextWriter
    let parentPath: [CodingKey]
    let key: CodingKey?
    var codingPath: [CodingKey] { key.map { parentPath + [$0] } ?? parentPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(writer: writer, level: writer.push(.object(empty: true)), codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        UnkeyedContainer(writer: writer, level: writer.push(.array(empty: true)), codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { self }
}

extension TextEncoder: SingleValueEncodingContainer {
    func encodeNil() { writer.out += "null".utf8 }
    func encode(_ value: Bool) { writer.out += (value ? "true" : "false").utf8 }
    func encode(_ value: String) { JSONValue.writeString(value, to: &writer.out) }
    func encode(_ value: Double) throws { try writer.number(value, parentPath, key) }
    func encode(_ value: Float) throws { try writer.number(value, parentPath, key) }
    func encode(_ value: Int) { writer.integer(value) }
    func encode(_ value: Int8) { writer.integer(value) }
    func encode(_ value: Int16) { writer.integer(value) }
    func encode(_ value: Int32) { writer.integer(value) }
    func encode(_ value: Int64) { writer.integer(value) }
    func encode(_ value: UInt) { writer.integer(value) }
    func encode(_ value: UInt8) { writer.integer(value) }
    func encode(_ value: UInt16) { writer.integer(value) }
    func encode(_ value: UInt32) { writer.integer(value) }
    func encode(_ value: UInt64) { writer.integer(value) }
    func encode<T: Encodable>(_ value: T) throws { try writer.write(value, parentPath: parentPath, key: key) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: TextWriter
    let level: Int
    let codingPath: [CodingKey]

    /// The encoder of the element under `key`, its key written.
    private func element(_ key: Key) -> TextEncoder {
        writer.element(at: level, key: key.stringValue)
        return TextEncoder(writer: writer, parentPath: codingPath, key: key)
    }

    mutating func encodeNil(forKey key: Key) { element(key).encodeNil() }
    mutating func encode(_ value: Bool, forKey key: Key) { element(key).encode(value) }
    mutating func encode(_ value: String, forKey key: Key) { element(key).encode(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try element(key).encode(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try element(key).encode(value) }
    mutating func encode(_ value: Int, forKey key: Key) { element(key).encode(value) }
    mutating func encode(_ value: Int8, forKey key: Key) { element(key).encode(value) }
    mutating func encode(_ value: Int16, forKey key: Key) { element(key).encode(value) }
    mutating func encode(_ value: Int32, forKey key: Key) { element(key).encode(value) }
    mutating func encode(_ value: Int64, forKey key: Key) { element(key).encode(value) }
    mutating func encode(_ value: UInt, forKey key: Key) { element(key).encode(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) { element(key).encode(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) { element(key).encode(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) { element(key).encode(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) { element(key).encode(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try element(key).encode(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        element(key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer { element(key).unkeyedContainer() }

    mutating func superEncoder() -> Encoder {
        writer.element(at: level, key: "super")
        return TextEncoder(writer: writer, parentPath: codingPath, key: IndexKey(string: "super"))
    }

    mutating func superEncoder(forKey key: Key) -> Encoder { element(key) }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let writer: TextWriter
    let level: Int
    let codingPath: [CodingKey]
    private(set) var count = 0

    init(writer: TextWriter, level: Int, codingPath: [CodingKey]) {
        self.writer = writer
        self.level = level
        self.codingPath = codingPath
    }

    /// The encoder of the next element, its separator written.
    private mutating func element() -> TextEncoder {
        writer.element(at: level, key: nil)
        defer { count += 1 }
        return TextEncoder(writer: writer, parentPath: codingPath, key: IndexKey(count))
    }

    mutating func encodeNil() { element().encodeNil() }
    mutating func encode(_ value: Bool) { element().encode(value) }
    mutating func encode(_ value: String) { element().encode(value) }
    mutating func encode(_ value: Double) throws { try element().encode(value) }
    mutating func encode(_ value: Float) throws { try element().encode(value) }
    mutating func encode(_ value: Int) { element().encode(value) }
    mutating func encode(_ value: Int8) { element().encode(value) }
    mutating func encode(_ value: Int16) { element().encode(value) }
    mutating func encode(_ value: Int32) { element().encode(value) }
    mutating func encode(_ value: Int64) { element().encode(value) }
    mutating func encode(_ value: UInt) { element().encode(value) }
    mutating func encode(_ value: UInt8) { element().encode(value) }
    mutating func encode(_ value: UInt16) { element().encode(value) }
    mutating func encode(_ value: UInt32) { element().encode(value) }
    mutating func encode(_ value: UInt64) { element().encode(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try element().encode(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        element().container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { element().unkeyedContainer() }

    mutating func superEncoder() -> Encoder { element() }
}

private extension QueryHit {
    /// Whether every number of the hit (its nested lists' included) can be written as JSON.
    var numbersAreFinite: Bool {
        score.isFinite && similarity.isFinite && recency.isFinite && importance.isFinite
            && boost?.isFinite ?? true && graph?.isFinite ?? true
            && sources?.vector?.score.isFinite ?? true && sources?.text?.score.isFinite ?? true
            && terms?.allSatisfy(\.score.isFinite) ?? true
    }
}
