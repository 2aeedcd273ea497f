import CSimdJSON
import EngramBase
import EngramIngest
import EngramStore
import Foundation

/// Decodes the lines of a JSON Lines import (`engram import`) into memories, with simdjson.
///
/// A record is one JSON object with the optional fields `id`, `text`, `namespace` (strings),
/// `vector` (array of numbers), `tags` (array of strings), `meta` (object), `importance`
/// (number), and `time`, `expiresAt`, `validTo` (epoch seconds as a number, or a string:
/// ISO 8601 with a zone, as `ISO8601Timestamp` reads it, or epoch seconds). A null field
/// reads as a missing one; other members are ignored but must be valid JSON; when a member
/// name occurs twice the first occurrence counts. A record needs a `vector` or a non-empty
/// `text`.
///
/// Numbers: JSON has no NaN or infinity; a number outside the range of a double (`1e999`) or
/// an integer outside the range of 64-bit integers makes the line malformed, and a vector
/// element must round to a finite 32-bit float that is not zero unless the element is.
/// Vector dimensions and values are checked by the store, not here.
///
/// A decoder keeps one simdjson parser and its buffers for all the lines it decodes; a copy
/// makes its own parser on its first `decode`, so copies share nothing. Thread-safety: none;
/// use one decoder per thread.
public struct JSONLRecordDecoder {
    /// Deepest nesting of arrays and objects accepted in a record, its own object included:
    /// 512, the limit of Foundation's `JSONDecoder`, which decoded imports before.
    public static let maxDepth = 512

    /// The namespace of records that do not name one.
    public var defaultNamespace: String
    private var parser: SimdJSONParser?

    public init(defaultNamespace: String) {
        self.defaultNamespace = defaultNamespace
    }

    /// Decodes one record.
    ///
    /// - Parameter line: the bytes of one line, without its newline (any bytes: invalid UTF-8
    ///   is reported, not trusted). Not retained.
    /// - Returns: the memory; its `vector` is empty when the record has only text (to be
    ///   embedded), `importance` is 0 and `tags`/`meta` are empty when not given.
    /// - Throws: `EngramError` with code `invalidArgument` and reason `malformedRecord` and
    ///   one of these messages: `malformed JSON (…)`, `record is not a JSON object`,
    ///   `field 'x' has the wrong type`, `field 'vector[i]' holds N, which a 32-bit float
    ///   cannot represent`, `record has neither "vector" nor "text"`, `time: '…' is not a
    ///   time; use ISO 8601 with a zone (2024-05-01T12:00:00Z) or epoch seconds` (naming
    ///   `expiresAt` or `validTo` for those fields); code `resourceExhausted` when memory
    ///   runs out.
    public mutating func decode(_ line: UnsafeRawBufferPointer) throws(EngramError) -> NewMemory {
        if parser == nil || !isKnownUniquelyReferenced(&parser) {
            parser = try SimdJSONParser(maxDepth: Self.maxDepth, malformedReason: .malformedRecord)
        }
        let r = try parser!.parse(line)
        if r.has_vector == 0 && r.text.length == 0 {
            throw Self.malformed("record has neither \"vector\" nor \"text\"")
        }
        return NewMemory(
            id: r.has_id != 0 ? Self.string(r.id) : nil,
            namespace: r.has_namespace != 0 ? Self.string(r.namespace_name) : defaultNamespace,
            text: Self.string(r.text),
            vector: Array(UnsafeBufferPointer(start: r.vector, count: r.vector_count)),
            tags: UnsafeBufferPointer(start: r.tags, count: r.tag_count).map(Self.string),
            meta: SimdJSONParser.object(UnsafeBufferPointer(start: r.meta, count: r.meta_count)),
            time: try Self.seconds(r.time, field: "time"),
            expiresAt: try Self.seconds(r.expires_at, field: "expiresAt"),
            validTo: try Self.seconds(r.valid_to, field: "validTo"),
            importance: r.importance)
    }

    private static func malformed(_ message: String) -> EngramError {
        EngramError(.invalidArgument, message, reason: .malformedRecord)
    }

    private static func bytes(_ s: csimdjson_string) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: s.data, count: s.length)
    }

    private static func string(_ s: csimdjson_string) -> String { SimdJSONParser.string(s) }

    /// A time field in epoch seconds, nil when absent.
    private static func seconds(_ time: csimdjson_time, field: String) throws(EngramError) -> Double? {
        switch time.kind {
        case CSIMDJSON_TIME_NUMBER:
            return time.number
        case CSIMDJSON_TIME_STRING:
            if let seconds = ISO8601Timestamp.epochSeconds(bytes(time.string)) { return seconds }
            // Rarer forms, as `engram` reads times on its command line: surrounding blanks,
            // epoch seconds in a string.
            let text = string(time.string)
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if let seconds = Double(trimmed), seconds.isFinite { return seconds }
            if let seconds = ISO8601Timestamp.epochSeconds(trimmed) { return seconds }
            let shown = text.count <= 100 ? text : String(text.prefix(100)) + "…"
            throw malformed("\(field): '\(shown)' is not a time; use ISO 8601 with a zone (2024-05-01T12:00:00Z) or epoch seconds")
        default:
            return nil
        }
    }
}
