import CSimdJSON
import EngramBase

/// Owns one `csimdjson_parser`: parses a line into a `csimdjson_record` whose pointers stay
/// valid until the next `parse` call or until the parser is released.
///
/// Thread-safety: none; one parser per thread.
final class SimdJSONParser {
    private let handle: OpaquePointer

    /// - Parameter maxDepth: most nested arrays and objects accepted, the record's own
    ///   object included.
    init(maxDepth: Int) throws(EngramError) {
        guard let handle = csimdjson_parser_new(maxDepth) else {
            throw EngramError(.resourceExhausted, "out of memory creating a JSON parser")
        }
        self.handle = handle
    }

    deinit { csimdjson_parser_free(handle) }

    /// Parses one line (any bytes; no padding needed).
    /// - Throws: `invalidArgument`/`malformedRecord` with the shim's message for a line that
    ///   is not a record; `resourceExhausted` when memory runs out; `internal` for a failure
    ///   of simdjson itself.
    func parse(_ line: UnsafeRawBufferPointer) throws(EngramError) -> csimdjson_record {
        var record = csimdjson_record()
        var message: UnsafePointer<CChar>?
        let status = csimdjson_parse_record(handle, line.baseAddress, line.count, &record, &message)
        if status == CSIMDJSON_OK { return record }
        let text = message.map { String(cString: $0) } ?? "unknown error"
        switch status {
        case CSIMDJSON_INVALID: throw EngramError(.invalidArgument, text, reason: .malformedRecord)
        case CSIMDJSON_NO_MEMORY: throw EngramError(.resourceExhausted, text)
        default: throw EngramError(.internal, text)
        }
    }
}
