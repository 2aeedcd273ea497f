import EngramBase
import Foundation

/// The binary layout of a stored memory (the `records` column family's values).
///
/// Version 2, little-endian: `u8 version, u64 label, str id, str namespace, str text,
/// u32 n + n×str tags, str meta-json, f64 time, created, updated, expires, validTo,
/// importance, lastAccessed (NaN = none)`, where `str` is a u32 byte length followed by
/// UTF-8. The vector is not in the record: it is row `label` of the vector file.
/// Version 1 (format-1 databases) ended with `u32 d + d×f32 vector`; it is still read.
enum RecordCodec {
    static let version: UInt8 = 2

    /// Encodes everything but the vector.
    static func encode(_ memory: Memory, label: Int64) -> [UInt8] {
        var out = ByteWriter(capacity: 96 + memory.id.utf8.count + memory.text.utf8.count)
        out.u8(version)
        out.u64(UInt64(bitPattern: label))
        out.string(memory.id)
        out.string(memory.namespace)
        out.string(memory.text)
        out.u32(UInt32(memory.tags.count))
        memory.tags.forEach { out.string($0) }
        out.string(memory.meta.isEmpty ? "" : encodeMeta(memory.meta))
        for value in [memory.time, memory.createdAt, memory.updatedAt, memory.expiresAt ?? .nan,
                      memory.validTo ?? .nan, memory.importance, memory.lastAccessedAt ?? .nan] {
            out.f64(value)
        }
        return out.bytes
    }

    /// Decodes a record. The memory's `vector` is empty for a version-2 record (read it from
    /// the vector file) and holds the inline vector of a version-1 record. Its metadata is
    /// read with `parser` (one made for the call when nil: a scan of many records passes one).
    static func decode(_ bytes: UnsafeRawBufferPointer, parser: SimdJSONParser? = nil) throws -> (memory: Memory, label: Int64) {
        var r = ByteReader(bytes)
        let (version, label) = try header(&r)
        let id = try r.string(), namespace = try r.string(), text = try r.string()
        let tagCount = Int(try r.u32())
        guard tagCount <= bytes.count else { throw EngramError.corrupt("record '\(id)' is malformed") }
        var tags: [String] = []
        tags.reserveCapacity(tagCount)
        for _ in 0..<tagCount { tags.append(try r.string()) }
        let metaText = try r.string()
        let meta = metaText.isEmpty ? [:] : try decodeMeta(metaText, parser: parser)
        let time = try r.f64(), created = try r.f64(), updated = try r.f64()
        let expires = try r.f64(), validTo = try r.f64(), importance = try r.f64(), accessed = try r.f64()
        let vector = version == 1 ? try r.floats(Int(try r.u32())) : []
        let memory = Memory(id: id, namespace: namespace, text: text, vector: vector, tags: tags, meta: meta,
                            time: time, createdAt: created, updatedAt: updated,
                            expiresAt: expires.isNaN ? nil : expires, validTo: validTo.isNaN ? nil : validTo,
                            importance: importance, lastAccessedAt: accessed.isNaN ? nil : accessed)
        return (memory, label)
    }

    /// The format version and the label, which every record starts with.
    private static func header(_ r: inout ByteReader) throws -> (version: UInt8, label: Int64) {
        let version = try r.u8()
        guard version == 1 || version == 2 else { throw EngramError.corrupt("a record has the unknown format version \(version)") }
        return (version, Int64(bitPattern: try r.u64()))
    }

    /// A record's label alone (what an id lookup needs), without decoding the rest.
    static func label(_ bytes: UnsafeRawBufferPointer) throws -> Int64 {
        var r = ByteReader(bytes)
        return try header(&r).label
    }

    /// A record's text alone, without decoding the rest (its metadata above all).
    static func text(_ bytes: UnsafeRawBufferPointer) throws -> String {
        var r = ByteReader(bytes)
        _ = try header(&r)
        _ = try r.string() // id
        _ = try r.string() // namespace
        return try r.string()
    }

    /// The record format version of an encoded record (0 if empty).
    static func version(of bytes: UnsafeRawBufferPointer) -> UInt8 { bytes.first ?? 0 }

    static func encodeMeta(_ meta: [String: JSONValue]) -> String { JSONValue.object(meta).jsonText }

    /// Reads a record's metadata with simdjson: `parser`, or one made for the call (a parser
    /// serves one thread at a time). Foundation's `JSONDecoder` took two thirds of an open
    /// that loads 75,000 memories' metadata from a snapshot.
    static func decodeMeta(_ text: String, parser: SimdJSONParser? = nil) throws -> [String: JSONValue] {
        do {
            let parser = try parser ?? metaParser()
            var text = text
            guard case let .object(members) = try text.withUTF8({ try parser.parseValue(UnsafeRawBufferPointer($0)) }) else {
                throw EngramError.corrupt("a record's metadata is not a JSON object")
            }
            return members
        } catch let error as EngramError where error.code == .invalidArgument {
            throw EngramError.corrupt("a record's metadata is not valid JSON: \(error.message)")
        }
    }

    /// A parser for `decodeMeta`.
    static func metaParser() throws -> SimdJSONParser {
        try SimdJSONParser(maxDepth: metaMaxDepth, malformedReason: .corruptData)
    }

    /// Nesting a record's metadata may have: `JSONDecoder`'s limit, which read it before.
    static let metaMaxDepth = 512
}

/// Appends little-endian fields to a byte array.
struct ByteWriter {
    private(set) var bytes: [UInt8]
    init(capacity: Int = 64) { bytes = []; bytes.reserveCapacity(capacity) }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func string(_ s: String) { u32(UInt32(s.utf8.count)); bytes.append(contentsOf: s.utf8) }
    /// A string as `string` writes it, its bytes appended by `body` straight to the buffer.
    mutating func string(writing body: (inout [UInt8]) -> Void) {
        let at = bytes.count
        u32(0)
        body(&bytes)
        withUnsafeBytes(of: UInt32(bytes.count - at - 4).littleEndian) { length in
            for i in 0..<4 { bytes[at + i] = length[i] }
        }
    }
    mutating func raw<C: Collection>(_ b: C) where C.Element == UInt8 { bytes.append(contentsOf: b) }
    /// Empties the buffer, keeping its capacity.
    mutating func clear() { bytes.removeAll(keepingCapacity: true) }
}

/// Reads little-endian fields, throwing on truncation instead of reading past the end.
struct ByteReader {
    private let buffer: UnsafeRawBufferPointer
    private var offset = 0
    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }
    /// Bytes read so far.
    var position: Int { offset }

    private mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= buffer.count - offset else { throw EngramError.corrupt("truncated data") }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + n])
    }
    mutating func u8() throws -> UInt8 { try take(1)[0] }
    mutating func u32() throws -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
    mutating func u64() throws -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }
    mutating func f64() throws -> Double { Double(bitPattern: try u64()) }
    mutating func string() throws -> String { String(decoding: try take(Int(try u32())), as: UTF8.self) }
    /// A string, or nil where `ByteWriter` wrote the length `UInt32.max`.
    mutating func optionalString() throws -> String? {
        let n = try u32()
        return n == UInt32.max ? nil : String(decoding: try take(Int(n)), as: UTF8.self)
    }
    mutating func f32() throws -> Float { Float(bitPattern: try u32()) }
    mutating func raw(_ n: Int) throws -> UnsafeRawBufferPointer { try take(n) }
    mutating func int64s(_ n: Int) throws -> [Int64] {
        let raw = try take(n * 8)
        return [Int64](unsafeUninitializedCapacity: n) { out, count in
            for i in 0..<n { out[i] = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)) }
            count = n
        }
    }
    mutating func floats(_ n: Int) throws -> [Float] {
        let raw = try take(n * 4)
        return [Float](unsafeUninitializedCapacity: n) { out, count in
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
            count = n
        }
    }
}

/// Big-endian integer keys sort in numeric order in RocksDB.
enum Keys {
    static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    static func readU64(_ raw: UnsafeRawBufferPointer) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)) }
}
