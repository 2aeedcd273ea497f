import CSimdJSON
import EngramBase

/// Owns one `csimdjson_parser` (simdjson's DOM parser behind the `CSimdJSON` shim): parses a
/// line into a `csimdjson_record` (an import record, for `engram import`) or into a
/// `JSONValue` (any document: change logs, requests, the metadata of stored records), several
/// times faster than Foundation's `JSONDecoder` building the same value. The record's
/// pointers stay valid until the next parse or until the parser is released.
///
/// Thread-safety: none; one parser per thread.
public final class SimdJSONParser {
    private let handle: OpaquePointer
    /// The reason of a line that is not valid JSON or not the expected shape.
    private let malformedReason: EngramError.Reason

    /// - Parameters:
    ///   - maxDepth: most nested arrays and objects accepted, the document's own included.
    ///   - malformedReason: the reason of the errors for malformed lines.
    public init(maxDepth: Int, malformedReason: EngramError.Reason) throws(EngramError) {
        guard let handle = csimdjson_parser_new(maxDepth) else {
            throw EngramError(.resourceExhausted, "out of memory creating a JSON parser")
        }
        self.handle = handle
        self.malformedReason = malformedReason
    }

    deinit { csimdjson_parser_free(handle) }

    /// Parses one import record (any bytes; no padding needed).
    /// - Throws: `invalidArgument` (the malformed reason) with the shim's message for a line
    ///   that is not a record; `resourceExhausted` when memory runs out; `internal` for a
    ///   failure of simdjson itself.
    public func parse(_ line: UnsafeRawBufferPointer) throws(EngramError) -> csimdjson_record {
        var record = csimdjson_record()
        var message: UnsafePointer<CChar>?
        let status = csimdjson_parse_record(handle, line.baseAddress, line.count, &record, &message)
        try check(status, message)
        return record
    }

    /// Parses one JSON document (any bytes) into a value.
    /// - Throws: as `parse`.
    public func parseValue(_ line: UnsafeRawBufferPointer) throws(EngramError) -> JSONValue {
        var values: UnsafePointer<csimdjson_value>?
        var count = 0
        var message: UnsafePointer<CChar>?
        let status = csimdjson_parse_value(handle, line.baseAddress, line.count, &values, &count, &message)
        try check(status, message)
        var index = 0
        return Self.value(UnsafeBufferPointer(start: values, count: count), &index)
    }

    private func check(_ status: csimdjson_status, _ message: UnsafePointer<CChar>?) throws(EngramError) {
        if status == CSIMDJSON_OK { return }
        let text = message.map { String(cString: $0) } ?? "unknown error"
        switch status {
        case CSIMDJSON_INVALID: throw EngramError(.invalidArgument, text, reason: malformedReason)
        case CSIMDJSON_NO_MEMORY: throw EngramError(.resourceExhausted, text)
        default: throw EngramError(.internal, text)
        }
    }

    /// The shim has validated the UTF-8.
    public static func string(_ s: csimdjson_string) -> String {
        String(decoding: UnsafeBufferPointer(start: UnsafeRawPointer(s.data)?.assumingMemoryBound(to: UInt8.self),
                                             count: s.length), as: UTF8.self)
    }

    /// The members of an object, from the shim's depth-first value list.
    public static func object(_ values: UnsafeBufferPointer<csimdjson_value>) -> [String: JSONValue] {
        var index = 0
        return members(values, &index, count: nil)
    }

    /// Reads `count` members (all that remain when nil) starting at `index`; the first
    /// occurrence of a name counts.
    private static func members(_ values: UnsafeBufferPointer<csimdjson_value>, _ index: inout Int,
                                count: Int?) -> [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        object.reserveCapacity(count ?? 0)
        var read = 0
        while index < values.count && read != count {
            let key = string(values[index].key)
            keepFirst(value(values, &index), in: &object[key])
            read += 1
        }
        return object
    }

    /// Fills an empty slot (one hash lookup through the dictionary's in-place access, where
    /// a test then an insert would make two).
    private static func keepFirst(_ value: JSONValue, in slot: inout JSONValue?) {
        if slot == nil { slot = value }
    }

    /// The value at `index` with its descendants; advances `index` past them.
    private static func value(_ values: UnsafeBufferPointer<csimdjson_value>, _ index: inout Int) -> JSONValue {
        guard index < values.count else { return .null }
        let v = values[index]
        index += 1
        switch v.kind {
        case CSIMDJSON_FALSE: return .bool(false)
        case CSIMDJSON_TRUE: return .bool(true)
        case CSIMDJSON_NUMBER: return .number(v.number)
        case CSIMDJSON_STRING: return .string(string(v.string))
        case CSIMDJSON_ARRAY:
            let count = v.count
            // An array of numbers (a vector) is its next `count` entries: made in one pass,
            // without a call and a capacity check per element (which took a tenth of reading a
            // request with a 384-number vector).
            if count <= values.count - index, values[index..<(index + count)].allSatisfy({ $0.kind == CSIMDJSON_NUMBER }) {
                let first = index
                index += count
                return .array(Array(unsafeUninitializedCapacity: count) { items, initialized in
                    for i in 0..<count { (items.baseAddress! + i).initialize(to: .number(values[first + i].number)) }
                    initialized = count
                })
            }
            var items: [JSONValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(value(values, &index)) }
            return .array(items)
        case CSIMDJSON_OBJECT:
            return .object(members(values, &index, count: v.count))
        default:
            return .null
        }
    }
}
