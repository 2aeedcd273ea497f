import Engram
import Foundation
import NIOCore

/// The NDJSON protocol's frames: how a request line is read and how answers are written.
///
/// Request: `{"id", "method", "params"?, "deadlineMs"?, "metadata"?}`; answers carry the same
/// `id`: `{"id","result"}` (unary), `{"id","message"}` then `{"id","status":{"code":"OK"}}`
/// (streaming), or `{"id","error":{"code","message","details"?}}`.
package enum NDJSONProtocol {
    /// A request line, read.
    package struct Request {
        /// The id as JSON text (`null` when absent), echoed in every answer.
        package var id: String
        package var method: String
        /// The params object (empty when absent).
        package var params: [String: JSONValue]
        package var deadlineMs: Double?
        /// `metadata.authorization` (`Bearer TOKEN` on TCP).
        package var authorization: String?
    }

    /// A parser for request lines nested at most `maxDepth` deep (simdjson counts depth as
    /// `request` does: `{"a":[]}` is 2 deep).
    package static func parser(maxDepth: Int) throws -> SimdJSONParser {
        try SimdJSONParser(maxDepth: maxDepth, malformedReason: .malformedRequest)
    }

    /// Reads a request line with `parser` (simdjson: Foundation's `JSONDecoder` building a
    /// generic value of a request with a vector in it took milliseconds). A line that is not a
    /// request throws `Failure` (`.invalidArgument`), with the id when it could be read.
    /// `parser` is `parser(maxDepth:)`'s, which refuses a line nested too deep; its depth is
    /// measured, for the message, only then.
    package static func request(_ bytes: [UInt8], maxDepth: Int, parser: SimdJSONParser) throws(Failure) -> Request {
        let value: JSONValue
        do {
            value = try bytes.withUnsafeBytes { raw in try parser.parseValue(raw) }
        } catch {
            if let depth = deepestNesting(bytes), depth > maxDepth {
                throw Failure(id: "null", error: EngramError(.invalidArgument, "the request nests \(depth) deep; the limit is \(maxDepth) ([server] max_depth)"))
            }
            // simdjson's messages begin "malformed JSON (…)".
            throw Failure(id: "null", error: EngramError.invalidArgument((error as? EngramError)?.message ?? "malformed JSON: \(error)"))
        }
        guard case let .object(members) = value else {
            throw Failure(id: "null", error: EngramError.invalidArgument("the request is not {\"id\",\"method\",\"params\"?,\"deadlineMs\"?,\"metadata\"?} but \(value.kindName)"))
        }
        let id = members["id"]?.jsonText ?? "null"
        func bad(_ message: String) -> Failure { Failure(id: id, error: EngramError.invalidArgument(message)) }
        guard let methodValue = members["method"] else { throw bad("the request names no method") }
        guard case let .string(method) = methodValue else { throw bad("request.method: expected a string") }
        var deadlineMs: Double?
        switch members["deadlineMs"] {
        case nil, .null?: break
        case let .number(n)? where n.isFinite && n > 0: deadlineMs = n
        default: throw bad("deadlineMs must be a positive number of milliseconds")
        }
        var params: [String: JSONValue] = [:]
        switch members["params"] {
        case nil, .null?: break
        case let .object(fields)?: params = fields
        case let other?: throw bad("params must be an object, not \(other.kindName)")
        }
        var authorization: String?
        switch members["metadata"] {
        case nil, .null?: break
        case let .object(metadata)?:
            switch metadata["authorization"] {
            case nil, .null?: break
            case let .string(value)?: authorization = value
            case let other?: throw bad("metadata.authorization must be a string (\"Bearer TOKEN\"), not \(other.kindName)")
            }
        case let other?: throw bad("metadata must be an object, not \(other.kindName)")
        }
        return Request(id: id, method: method, params: params, deadlineMs: deadlineMs, authorization: authorization)
    }

    /// A params object given alone (a gRPC request message): its members, none for no bytes.
    /// - Throws: `EngramError` `.invalidArgument` for malformed JSON, nesting deeper than
    ///   `maxDepth`, or a value that is not an object.
    package static func params(_ bytes: [UInt8], maxDepth: Int, parser: SimdJSONParser) throws(EngramError) -> [String: JSONValue] {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) { return [:] }
        if let depth = deepestNesting(bytes), depth > maxDepth {
            throw EngramError(.invalidArgument, "the request nests \(depth) deep; the limit is \(maxDepth) ([server] max_depth)")
        }
        let value = try bytes.withUnsafeBytes { raw in Result { () throws(EngramError) in try parser.parseValue(raw) } }.get()
        guard case let .object(members) = value else { throw EngramError.invalidArgument("params must be an object, not \(value.kindName)") }
        return members
    }

    /// A request line that could not be read, with the id to answer it under.
    package struct Failure: Error {
        package var id: String
        package var error: EngramError
    }

    /// The deepest nesting of arrays and objects in `bytes` (outside strings); nil when it
    /// cannot be told (unbalanced brackets, which the parser reports).
    static func deepestNesting(_ bytes: [UInt8]) -> Int? {
        var depth = 0, deepest = 0, inString = false, escaped = false
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
                continue
            }
            switch b {
            case 0x22: inString = true
            case 0x5B, 0x7B:
                depth += 1
                deepest = max(deepest, depth)
            case 0x5D, 0x7D:
                depth -= 1
                if depth < 0 { return nil }
            default: break
            }
        }
        return deepest
    }

    static func result(_ id: String, _ json: Data) -> ByteBuffer { frame(id, "result", json) }

    static func message(_ id: String, _ json: Data) -> ByteBuffer { frame(id, "message", json) }

    static func ok(_ id: String) -> ByteBuffer { frame(id, "status", Data(#"{"code":"OK"}"#.utf8)) }

    static func error(_ id: String, _ error: EngramError) -> ByteBuffer {
        var body: [String: JSONValue] = ["code": .string(error.code.rawValue), "message": .string(error.message)]
        if error.reason != .unspecified { body["details"] = .object(["reason": .string(error.reason.rawValue)]) }
        return frame(id, "error", Data(JSONValue.object(body).jsonText.utf8))
    }

    /// `{"id":ID,"KEY":JSON}` and a newline, in the buffer the connection writes (made once:
    /// an answer is not copied again on its way out).
    private static func frame(_ id: String, _ key: StaticString, _ json: Data) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(json.count + id.utf8.count + key.utf8CodeUnitCount + 10)
        out.writeStaticString("{\"id\":")
        out.writeString(id)
        out.writeStaticString(",\"")
        out.writeStaticString(key)
        out.writeStaticString("\":")
        out.writeBytes(json)
        out.writeStaticString("}\n")
        return out
    }
}

extension JSONValue {
    /// What kind of JSON value this is, for messages: "an array", "a string", …
    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "true or false"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
