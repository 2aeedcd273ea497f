#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EngramBase

/// Description of one tensor in a GGUF file.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// Dimensions, innermost first: a weight `{n_in, n_out}` has `n_out` rows of `n_in` values.
    public let dims: [Int]
    public let type: GGMLType
    /// Offset of the tensor's bytes from the start of the data section.
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { dims.reduce(1, *) }
    /// Values per row (`dims[0]`).
    public var rowLength: Int { dims[0] }
    /// Number of rows (product of the outer dimensions).
    public var rowCount: Int { dims.dropFirst().reduce(1, *) }
}

/// A memory-mapped GGUF file: header, metadata, tensor infos and the tensor data.
///
/// Opening validates the whole layout (string and array lengths, tensor dimensions and
/// types, offsets, alignment and sizes against the file size) and throws `EngramError`:
/// `.notFound` (`glmModelNotFound`) for a missing file; `.permissionDenied`,
/// `.failedPrecondition` (not a regular file) or `.unavailable` (`unreadableGGUF`) for one
/// that cannot be opened or mapped; `.dataLoss` (`invalidGGUF`) for a truncated or
/// inconsistent file; `.unimplemented` (`unsupportedGGUF`) for a GGUF version or tensor type
/// the engine does not read. The mapping is read-only and lives as long as this object; it is
/// safe to share between threads.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Byte offset of the data section within the file.
    public let dataOffset: Int
    public let fileSize: Int

    let base: UnsafeRawPointer
    private let tensorIndex: [String: Int]

    /// Limits that keep a corrupt header from asking for absurd allocations.
    public static let maximumTensorCount = 1 << 20
    public static let maximumMetadataCount = 1 << 20

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw GGUFFile.openError(path, errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw EngramError(.unavailable, "cannot stat \(path): \(String(cString: strerror(errno)))", reason: .unreadableGGUF)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw EngramError(.failedPrecondition, "\(path) is not a regular file (expected a .gguf model file)", reason: .unreadableGGUF)
        }
        let size = Int(st.st_size)
        guard size >= 24 else { throw EngramError.invalidGGUF(path, "\(size) bytes, too short for a GGUF header") }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw EngramError(.unavailable, "cannot map \(path): \(String(cString: strerror(errno)))", reason: .unreadableGGUF)
        }
        let raw = UnsafeRawPointer(p)
        do {
            var r = ByteReader(base: raw, size: size, path: path)
            let parsed = try GGUFFile.parse(&r, size: size)
            self.base = raw
            self.fileSize = size
            self.version = parsed.version
            self.metadata = parsed.metadata
            self.metadataKeys = parsed.keys
            self.tensors = parsed.tensors
            self.alignment = parsed.alignment
            self.dataOffset = parsed.dataOffset
            var index: [String: Int] = [:]
            for (i, t) in parsed.tensors.enumerated() { index[t.name] = i }
            self.tensorIndex = index
        } catch {
            munmap(p, size)
            throw error
        }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), fileSize) }

    /// The error for `open(2)` failing on `path` with `code`.
    private static func openError(_ path: String, _ code: Int32) -> EngramError {
        let why = String(cString: strerror(code))
        switch code {
        case ENOENT, ENOTDIR:
            return EngramError(.notFound, "cannot open \(path): \(why)", reason: .glmModelNotFound)
        case EACCES, EPERM:
            return EngramError(.permissionDenied, "cannot open \(path): \(why)", reason: .unreadableGGUF)
        default:
            return EngramError(.unavailable, "cannot open \(path): \(why)", reason: .unreadableGGUF)
        }
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// Pointer to the first byte of a tensor's data.
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawPointer {
        base + dataOffset + tensor.offset
    }

    /// Lets the system drop the mapped pages that lie wholly within `bytes` bytes at `start`
    /// (a tensor whose data now lives elsewhere): they leave this process's resident memory,
    /// and a later read maps them in again from the file.
    func releasePages(_ start: UnsafeRawPointer, bytes: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + bytes) / page * page
        guard end > first, let p = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(p, end - first, MADV_DONTNEED)
    }

    public subscript(key: String) -> GGUFValue? { metadata[key] }

    // MARK: Parsing

    private struct Parsed {
        var version = 0
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        var tensors: [GGUFTensorInfo] = []
        var alignment = 32
        var dataOffset = 0
    }

    private static func parse(_ r: inout ByteReader, size: Int) throws -> Parsed {
        var out = Parsed()
        let magic = try r.u32()
        guard magic == 0x4655_4747 else { throw r.invalid("bad magic (not a GGUF file)") }
        let version = Int(try r.u32())
        guard version == 2 || version == 3 else {
            throw EngramError.unsupportedGGUF(r.path, "GGUF version \(version) is not supported (expected 3)")
        }
        out.version = version
        let tensorCount = try r.u64()
        let kvCount = try r.u64()
        guard tensorCount <= UInt64(maximumTensorCount) else { throw r.invalid("tensor count \(tensorCount) is too large") }
        guard kvCount <= UInt64(maximumMetadataCount) else { throw r.invalid("metadata count \(kvCount) is too large") }

        for _ in 0..<Int(kvCount) {
            let key = try r.string()
            let type = try r.u32()
            let value = try r.value(type: type, depth: 0)
            if out.metadata.updateValue(value, forKey: key) != nil {
                throw r.invalid("duplicate metadata key \(key)")
            }
            out.keys.append(key)
        }
        if let a = out.metadata["general.alignment"] {
            guard let v = a.intValue, v > 0, v & (v - 1) == 0, v <= 1 << 20 else {
                throw r.invalid("general.alignment \(a) is not a power of two")
            }
            out.alignment = v
        }

        var names = Set<String>()
        var infos: [(String, [Int], GGMLType, Int)] = []
        for _ in 0..<Int(tensorCount) {
            let name = try r.string()
            guard names.insert(name).inserted else { throw r.invalid("duplicate tensor \(name)") }
            let nDims = Int(try r.u32())
            guard (1...4).contains(nDims) else { throw r.invalid("tensor \(name) has \(nDims) dimensions") }
            var dims: [Int] = []
            var count = 1
            for _ in 0..<nDims {
                let d = try r.u64()
                guard d > 0, d < 1 << 40 else { throw r.invalid("tensor \(name) has dimension \(d)") }
                dims.append(Int(d))
                let (m, o) = count.multipliedReportingOverflow(by: Int(d))
                guard !o, m < 1 << 42 else { throw r.invalid("tensor \(name) is too large") }
                count = m
            }
            let rawType = try r.u32()
            guard let type = GGMLType(rawValue: rawType) else {
                throw EngramError.unsupportedGGUF(r.path, "tensor \(name) has ggml type \(rawType), which is not supported")
            }
            guard dims[0] % type.blockSize == 0 else {
                throw r.invalid("tensor \(name): row length \(dims[0]) is not a multiple of the \(type) block size")
            }
            let offset = try r.u64()
            guard offset < UInt64(size) else { throw r.invalid("tensor \(name) offset \(offset) is past the end of the file") }
            guard Int(offset) % out.alignment == 0 else { throw r.invalid("tensor \(name) offset \(offset) is not aligned") }
            infos.append((name, dims, type, Int(offset)))
        }
        let dataOffset = (r.position + out.alignment - 1) / out.alignment * out.alignment
        guard dataOffset <= size else { throw r.invalid("file ends before the data section (truncated)") }
        out.dataOffset = dataOffset
        let dataSize = size - dataOffset
        var ranges: [(Int, Int, String)] = []
        for (name, dims, type, offset) in infos {
            let bytes = type.rowBytes(dims[0]) * dims.dropFirst().reduce(1, *)
            guard offset + bytes <= dataSize else {
                throw r.invalid("tensor \(name) (\(bytes) bytes at offset \(offset)) extends past the end of the file (truncated?)")
            }
            ranges.append((offset, bytes, name))
            out.tensors.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: offset, byteCount: bytes))
        }
        ranges.sort { $0.0 < $1.0 }
        for i in ranges.indices.dropFirst() where ranges[i - 1].0 + ranges[i - 1].1 > ranges[i].0 {
            throw r.invalid("tensors \(ranges[i - 1].2) and \(ranges[i].2) overlap")
        }
        return out
    }
}

/// Bounds-checked little-endian reader over the mapped bytes.
struct ByteReader {
    let base: UnsafeRawPointer
    let size: Int
    /// The file, for error messages.
    let path: String
    var position = 0

    static let maximumDepth = 4

    /// `.dataLoss` / `invalidGGUF` naming the file.
    func invalid(_ problem: String) -> EngramError { EngramError.invalidGGUF(path, problem) }

    mutating func need(_ n: Int) throws {
        guard n >= 0, n <= size - position else {
            throw invalid("unexpected end of file at byte \(position) (truncated?)")
        }
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try need(MemoryLayout<T>.size)
        let v = base.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func u64() throws -> UInt64 { try load(UInt64.self) }

    mutating func string() throws -> String {
        let n = try u64()
        guard n <= UInt64(size - position) else { throw invalid("string of \(n) bytes at byte \(position) runs past the end of the file") }
        let len = Int(n)
        let buffer = UnsafeRawBufferPointer(start: base + position, count: len)
        position += len
        return String(decoding: buffer, as: UTF8.self)
    }

    mutating func value(type: UInt32, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try load(UInt8.self))
        case 1: return .int8(try load(Int8.self))
        case 2: return .uint16(try load(UInt16.self))
        case 3: return .int16(try load(Int16.self))
        case 4: return .uint32(try load(UInt32.self))
        case 5: return .int32(try load(Int32.self))
        case 6: return .float32(Float(bitPattern: try load(UInt32.self)))
        case 7:
            let b = try load(UInt8.self)
            guard b <= 1 else { throw invalid("bool value \(b) at byte \(position - 1)") }
            return .bool(b == 1)
        case 8: return .string(try string())
        case 9:
            guard depth < ByteReader.maximumDepth else { throw invalid("arrays nested too deeply") }
            let elemType = try u32()
            let n = try u64()
            // Every element takes at least one byte: a count beyond the remaining bytes is corrupt.
            guard n <= UInt64(size - position) else { throw invalid("array of \(n) values at byte \(position) runs past the end of the file") }
            let count = Int(n)
            switch elemType {
            case 8:
                var table = GGUFArray.StringTable()
                table.ends.reserveCapacity(count)
                for _ in 0..<count {
                    let len = try u64()
                    guard len <= UInt64(size - position) else {
                        throw invalid("string of \(len) bytes at byte \(position) runs past the end of the file")
                    }
                    table.bytes.append(contentsOf: UnsafeRawBufferPointer(start: base + position, count: Int(len)))
                    position += Int(len)
                    guard table.bytes.count <= Int(UInt32.max) else { throw invalid("string array too large") }
                    table.ends.append(UInt32(table.bytes.count))
                }
                return .array(GGUFArray(storage: .strings(table)))
            case 0, 1, 2, 3, 4, 5, 7, 10, 11:
                var ints: [Int64] = []
                ints.reserveCapacity(count)
                for _ in 0..<count {
                    let v = try value(type: elemType, depth: depth + 1)
                    switch v {
                    case .uint64(let u): ints.append(Int64(bitPattern: u))
                    case .int64(let i): ints.append(i)
                    default: ints.append(Int64(v.intValue ?? 0))
                    }
                }
                return .array(GGUFArray(storage: .integers(ints, elemType)))
            case 6, 12:
                var floats: [Double] = []
                floats.reserveCapacity(count)
                for _ in 0..<count { floats.append(try value(type: elemType, depth: depth + 1).doubleValue ?? 0) }
                return .array(GGUFArray(storage: .floats(floats, elemType)))
            default:
                var values: [GGUFValue] = []
                for _ in 0..<count { values.append(try value(type: elemType, depth: depth + 1)) }
                return .array(GGUFArray(storage: .values(values)))
            }
        case 10: return .uint64(try load(UInt64.self))
        case 11: return .int64(try load(Int64.self))
        case 12: return .float64(Double(bitPattern: try load(UInt64.self)))
        default: throw invalid("unknown metadata value type \(type) at byte \(position - 4)")
        }
    }
}
