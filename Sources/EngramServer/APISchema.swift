import Engram
import Foundation

extension RPCMethod {
    /// The JSON type of the method's `params`.
    var requestType: any Codable.Type {
        switch self {
        case .memoryUpsert: return UpsertRequest.self
        case .memoryGet: return GetRequest.self
        case .memoryDelete: return DeleteRequest.self
        case .memoryQuery: return QueryRequest.self
        case .memoryStats, .graphStats, .healthCheck, .ingestStatus, .adminCompact, .adminShutdown: return NoParams.self
        case .adminReloadModel: return ReloadModelRequest.self
        case .memoryExport: return ExportRequest.self
        case .ragAsk: return AskRequest.self
        case .ragFeedback: return FeedbackRequest.self
        case .graphEntity: return GraphEntityRequest.self
        case .graphPath: return GraphPathRequest.self
        case .ingestErrors: return DeadLettersRequest.self
        case .ingestImport: return ImportRequest.self
        case .ingestWatch: return WatchRequest.self
        case .graphPurge: return GraphPurgeRequest.self
        case .controlCancel: return CancelParams.self
        }
    }

    /// The JSON type of its `result` (unary) or of each `message` (streaming).
    var responseType: any Decodable.Type {
        switch self {
        case .memoryUpsert: return UpsertResponse.self
        case .memoryGet: return MemoryRecord.self
        case .memoryDelete: return DeleteResponse.self
        case .memoryQuery: return QueryResponse.self
        case .memoryStats: return StatsResponse.self
        case .memoryExport: return MemoryRecord.self
        case .ragAsk: return AskStreamMessage.self
        case .ragFeedback: return FeedbackResponse.self
        case .graphEntity: return Neighbourhood.self
        case .graphPath: return GraphPathResponse.self
        case .graphStats: return GraphStats.self
        case .ingestStatus: return IngestStatusResponse.self
        case .ingestErrors: return DeadLettersResponse.self
        case .ingestImport: return ImportStreamMessage.self
        case .ingestWatch: return WatchResponse.self
        case .graphPurge: return GraphPurgeResponse.self
        case .healthCheck, .adminShutdown: return HealthResponse.self
        case .adminReloadModel: return ReloadModelResponse.self
        case .adminCompact: return CompactResponse.self
        case .controlCancel: return CancelResult.self
        }
    }
}

/// Parameters of a method that takes none: `{}`.
struct NoParams: Codable {}

/// `Control/Cancel`'s parameters: `{"id"}`, the id of a call on the same connection.
struct CancelParams: Codable {
    var id: JSONValue
}

/// `Control/Cancel`'s result: `{"cancelled"}`, whether a call with that id was in progress.
struct CancelResult: Codable {
    var cancelled: Bool
}

/// The machine-readable description of the API (`Data/api/engram.v1.json`): every method with
/// its kind and the types of its parameters and answers, and every type with its JSON fields.
///
/// It is read off the Swift types themselves (the keys their `Decodable` conformances ask
/// for), so the document cannot say what the server does not do: `engramd --api-schema`
/// prints it, and a test compares it with the committed file.
public enum APISchema {
    public static func document() -> String {
        var types: [String: [String: String]] = [:]
        var methods: [String: JSONValue] = [:]
        for method in RPCMethod.allCases {
            let request = FieldRecorder.describe(method.requestType, into: &types)
            let response = FieldRecorder.describe(method.responseType, into: &types)
            methods[method.rawValue] = .object([
                "kind": .string(method.kind.rawValue), "params": .string(request),
                (method.kind == .unary ? "result" : "message"): .string(response),
            ])
        }
        let typesValue = JSONValue.object(types.mapValues { .object($0.mapValues { .string($0) }) })
        let document: JSONValue = .object([
            "protocol": .string("NDJSON on a Unix socket: one request per line {\"id\",\"method\",\"params\"?,\"deadlineMs\"?,\"metadata\"?}; answers {\"id\",\"result\"}, or {\"id\",\"message\"} frames then {\"id\",\"status\":{\"code\":\"OK\"}}, or {\"id\",\"error\":{\"code\",\"message\",\"details\"?}} with gRPC status codes. A type ending in ? may be absent; [T] is an array; {T} an object of T by key."),
            "methods": .object(methods),
            "types": typesValue,
        ])
        return pretty(document, indent: "")
    }

    /// JSON with sorted keys, two spaces per level, one member per line.
    static func pretty(_ value: JSONValue, indent: String) -> String {
        switch value {
        case let .object(members):
            if members.isEmpty { return "{}" }
            let inner = indent + "  "
            let lines = members.keys.sorted().map { "\(inner)\(JSONValue.string($0).jsonText): \(pretty(members[$0]!, indent: inner))" }
            return "{\n" + lines.joined(separator: ",\n") + "\n\(indent)}"
        default:
            return value.jsonText
        }
    }
}

/// Learns the JSON fields of a `Decodable` type by decoding it from a decoder that answers
/// every question and writes it down: each key asked for, with the type asked.
struct FieldRecorder {
    /// The type's name as the schema shows it, adding its fields (and those of the types
    /// inside it) to `types` when it is an object.
    static func describe(_ type: any Decodable.Type, into types: inout [String: [String: String]]) -> String {
        if let leaf = leafName(type) { return leaf }
        if let array = type as? any SchemaArray.Type { return "[" + describe(array.elementType, into: &types) + "]" }
        if let dictionary = type as? any SchemaDictionary.Type { return "{" + describe(dictionary.valueType, into: &types) + "}" }
        if let optional = type as? any SchemaOptional.Type { return describe(optional.wrappedType, into: &types) + "?" }
        let name = String(describing: type)
        guard types[name] == nil else { return name }
        types[name] = [:]
        let log = Log()
        _ = try? type.init(from: RecordingDecoder(log: log))
        var fields: [String: String] = [:]
        for (key, fieldType, optional) in log.fields {
            fields[key] = describe(fieldType, into: &types) + (optional ? "?" : "")
        }
        types[name] = fields
        return name
    }

    /// Types written as one JSON value, not as an object of fields.
    static func leafName(_ type: Any.Type) -> String? {
        switch type {
        case is String.Type: return "string"
        case is Bool.Type: return "bool"
        case is Int.Type, is Int64.Type, is UInt64.Type, is Int32.Type, is UInt32.Type: return "integer"
        case is Double.Type, is Float.Type: return "number"
        case is Timestamp.Type: return "time"
        case is TimeSpan.Type: return "duration"
        case is JSONValue.Type: return "any"
        default:
            if let choice = type as? any CaseIterable.Type, type is any RawRepresentable.Type {
                return caseNames(choice).joined(separator: "|")
            }
            return type is any RawRepresentable.Type ? "string" : nil
        }
    }

    /// The raw values of an enum's cases.
    static func caseNames<C: CaseIterable>(_ type: C.Type) -> [String] {
        C.allCases.map { value in (value as? any RawRepresentable).map { "\($0.rawValue)" } ?? "\(value)" }
    }

    static func firstCase<C: CaseIterable>(_ type: C.Type) -> Any? { C.allCases.first }

    final class Log {
        var fields: [(String, any Decodable.Type, Bool)] = []
        func add(_ key: String, _ type: any Decodable.Type, optional: Bool) {
            if !fields.contains(where: { $0.0 == key }) { fields.append((key, type, optional)) }
        }
    }

    /// A stand-in value of `type`, so that decoding goes on to the next key.
    static func fabricate<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is String.Type: return "" as! T
        case is Bool.Type: return false as! T
        case is Int.Type: return 0 as! T
        case is Int64.Type: return Int64(0) as! T
        case is UInt64.Type: return UInt64(0) as! T
        case is Int32.Type: return Int32(0) as! T
        case is UInt32.Type: return UInt32(0) as! T
        case is Double.Type: return 0.0 as! T
        case is Float.Type: return Float(0) as! T
        case is Timestamp.Type: return Timestamp(0) as! T
        case is TimeSpan.Type: return TimeSpan(seconds: 0) as! T
        case is JSONValue.Type: return JSONValue.null as! T
        default:
            if let choice = type as? any CaseIterable.Type, let first = firstCase(choice) as? T { return first }
            return try T(from: RecordingDecoder(log: Log()))
        }
    }

    struct RecordingDecoder: Decoder {
        let log: Log
        var codingPath: [CodingKey] = []
        var userInfo: [CodingUserInfoKey: Any] = [:]
        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            KeyedDecodingContainer(Keyed<Key>(log: log))
        }
        func unkeyedContainer() throws -> UnkeyedDecodingContainer { EmptyList() }
        func singleValueContainer() throws -> SingleValueDecodingContainer { Single() }
    }

    /// Ends the decoding of a value that cannot be made up.
    struct Stop: Error {}

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let log: Log
        var codingPath: [CodingKey] = []
        var allKeys: [Key] { [] }
        func contains(_ key: Key) -> Bool { false }
        func decodeNil(forKey key: Key) throws -> Bool { true }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            log.add(key.stringValue, type, optional: false)
            return try FieldRecorder.fabricate(type)
        }
        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
            log.add(key.stringValue, type, optional: true)
            return nil
        }
        // The standard library's own overloads for these would skip an absent key unseen.
        func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { absent(type, key) }
        func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { absent(type, key) }
        func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { absent(type, key) }
        func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { absent(type, key) }
        func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { absent(type, key) }
        func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { absent(type, key) }
        func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { absent(type, key) }
        func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { absent(type, key) }
        func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { absent(type, key) }
        private func absent<T: Decodable>(_ type: T.Type, _ key: Key) -> T? {
            log.add(key.stringValue, type, optional: true)
            return nil
        }
        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            KeyedDecodingContainer(Keyed<NestedKey>(log: Log()))
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { EmptyList() }
        func superDecoder() throws -> Decoder { RecordingDecoder(log: Log()) }
        func superDecoder(forKey key: Key) throws -> Decoder { RecordingDecoder(log: Log()) }
    }

    struct EmptyList: UnkeyedDecodingContainer {
        var codingPath: [CodingKey] = []
        var count: Int? { 0 }
        var isAtEnd: Bool { true }
        var currentIndex: Int { 0 }
        mutating func decodeNil() throws -> Bool { true }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { throw Stop() }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> { throw Stop() }
        mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { throw Stop() }
        mutating func superDecoder() throws -> Decoder { throw Stop() }
    }

    struct Single: SingleValueDecodingContainer {
        var codingPath: [CodingKey] = []
        func decodeNil() -> Bool { false }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try FieldRecorder.fabricate(type) }
    }
}

protocol SchemaArray { static var elementType: any Decodable.Type { get } }
extension Array: SchemaArray where Element: Decodable { static var elementType: any Decodable.Type { Element.self } }

protocol SchemaDictionary { static var valueType: any Decodable.Type { get } }
extension Dictionary: SchemaDictionary where Key == String, Value: Decodable { static var valueType: any Decodable.Type { Value.self } }

protocol SchemaOptional { static var wrappedType: any Decodable.Type { get } }
extension Optional: SchemaOptional where Wrapped: Decodable { static var wrappedType: any Decodable.Type { Wrapped.self } }
