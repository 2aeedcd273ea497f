import EngramBase
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only, memory-mapped safetensors file.
///
/// Layout: an 8-byte little-endian header length `n`, then `n` bytes of UTF-8 JSON mapping
/// each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative
/// to the first byte after the header), then the raw little-endian tensor data. The optional
/// `"__metadata__"` entry is kept as strings.
///
/// `init` validates the whole header before anything is read: the header must fit in the file,
/// be a JSON object, and every tensor must have a known dtype, a non-negative shape whose
/// element count times the dtype size equals its byte range, a range inside the data section,
/// and no overlap with another tensor. A file that fails any check throws `EngramError`
/// `.dataLoss` (`truncatedSafeTensors` or `invalidSafeTensorsHeader`).
///
/// Thread-safety: immutable after `init`; reading tensors from several threads is safe.
public final class SafeTensorsFile: @unchecked Sendable {
    /// Element types found in safetensors files.
    public enum DType: String, Sendable, CaseIterable {
        case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
        case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

        /// Bytes per element.
        public var size: Int {
            switch self {
            case .f64, .i64: return 8
            case .f32, .i32: return 4
            case .f16, .bf16, .i16: return 2
            case .i8, .u8, .bool: return 1
            }
        }
    }

    /// Where one tensor lives in the file.
    public struct TensorInfo: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range relative to the start of the data section.
        public let dataRange: Range<Int>
        /// Number of elements (product of `shape`; 1 for a scalar).
        public var elementCount: Int { shape.reduce(1, *) }
    }

    /// Largest header accepted (the format's own limit is 100 MB).
    public static let maximumHeaderSize = 100_000_000

    /// The file this was read from.
    public let path: String
    /// Tensors by name.
    public let tensors: [String: TensorInfo]
    /// The `__metadata__` entry, if any.
    public let metadata: [String: String]

    private let mapping: MappedFile
    private let dataStart: Int

    /// Opens and validates the safetensors file at `url`.
    /// - Throws: `EngramError`: `.notFound` (`missingModelFile`); `.permissionDenied`,
    ///   `.failedPrecondition` or `.unavailable` (`unreadableModelFile`); `.dataLoss`
    ///   (`truncatedSafeTensors`, `invalidSafeTensorsHeader`).
    public convenience init(url: URL) throws {
        try self.init(mapping: MappedFile(path: url.path))
    }

    private init(mapping: MappedFile) throws {
        self.mapping = mapping
        let path = mapping.path
        self.path = path
        let size = mapping.count
        guard size >= 8 else {
            throw EngramError.truncatedSafeTensors(path: path, problem: "\(size) bytes, shorter than the 8-byte header length")
        }
        let bytes = mapping.bytes
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength > 0, headerLength <= UInt64(Self.maximumHeaderSize) else {
            throw EngramError.invalidSafeTensorsHeader(path: path, problem: "header length \(headerLength) is out of range 1...\(Self.maximumHeaderSize)")
        }
        guard headerLength <= UInt64(size - 8) else {
            throw EngramError.truncatedSafeTensors(path: path, problem: "header says \(headerLength) bytes of JSON but only \(size - 8) follow")
        }
        let n = Int(headerLength)
        dataStart = 8 + n
        let dataSize = size - dataStart
        let json = Data(UnsafeBufferPointer(start: bytes + 8, count: n))
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: json, options: [])
        } catch {
            throw EngramError.invalidSafeTensorsHeader(path: path, problem: "the header is not valid JSON")
        }
        guard let entries = object as? [String: Any] else {
            throw EngramError.invalidSafeTensorsHeader(path: path, problem: "the header is not a JSON object")
        }
        var infos: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in entries {
            if name == "__metadata__" {
                guard let dict = value as? [String: Any] else {
                    throw EngramError.invalidSafeTensorsHeader(path: path, problem: "__metadata__ is not an object")
                }
                for (k, v) in dict { metadata[k] = (v as? String) ?? "\(v)" }
                continue
            }
            infos[name] = try Self.parseEntry(name: name, value: value, dataSize: dataSize, path: path)
        }
        // No two tensors may share bytes.
        let ordered = infos.values.filter { !$0.dataRange.isEmpty }.sorted { $0.dataRange.lowerBound < $1.dataRange.lowerBound }
        for (a, b) in zip(ordered, ordered.dropFirst()) where a.dataRange.upperBound > b.dataRange.lowerBound {
            throw EngramError.invalidSafeTensorsHeader(path: path, problem: "tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.tensors = infos
        self.metadata = metadata
    }

    private static func parseEntry(name: String, value: Any, dataSize: Int, path: String) throws -> TensorInfo {
        func bad(_ problem: String) -> EngramError {
            .invalidSafeTensorsHeader(path: path, problem: "tensor '\(name)': \(problem)")
        }
        guard let dict = value as? [String: Any] else { throw bad("entry is not an object") }
        guard let dtypeName = dict["dtype"] as? String else { throw bad("missing dtype") }
        guard let dtype = DType(rawValue: dtypeName) else { throw bad("unknown dtype \(dtypeName)") }
        guard let shapeValues = dict["shape"] as? [Any] else { throw bad("missing shape") }
        var shape: [Int] = []
        for v in shapeValues {
            guard let d = exactInteger(v), d >= 0 else { throw bad("shape \(shapeValues) is not a list of non-negative integers") }
            shape.append(d)
        }
        guard let offsets = dict["data_offsets"] as? [Any], offsets.count == 2,
              let begin = exactInteger(offsets[0]), let end = exactInteger(offsets[1]), begin >= 0, begin <= end
        else { throw bad("data_offsets must be [begin, end] with 0 <= begin <= end") }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw bad("shape \(shape) is too large") }
            count = product
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow else { throw bad("shape \(shape) of \(dtypeName) is too large") }
        guard bytes == end - begin else {
            throw bad("shape \(shape) of \(dtypeName) needs \(bytes) bytes but data_offsets cover \(end - begin)")
        }
        guard end <= dataSize else {
            throw EngramError.truncatedSafeTensors(path: path, problem: "tensor '\(name)' ends at data byte \(end) but the file holds \(dataSize)")
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
    }

    /// Tensor names, sorted.
    public var names: [String] { tensors.keys.sorted() }

    /// The tensor's elements converted to Float32 (from F32, F16 or BF16), row-major.
    /// - Throws: `EngramError` `.dataLoss` (`missingTensor`) or `.unimplemented` (`unsupportedDType`).
    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensors[name] else { throw EngramError.missingTensor(name: name, path: path) }
        let count = info.elementCount
        let base = UnsafeRawPointer(mapping.bytes + dataStart + info.dataRange.lowerBound)
        switch info.dtype {
        case .f32:
            return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                // The data may not be 4-byte aligned; copy bytes.
                memcpy(out.baseAddress!, base, count * 4)
                initialized = count
            }
        case .f16:
            return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                for i in 0..<count {
                    let bits = base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    out[i] = Float(Float16(bitPattern: UInt16(littleEndian: bits)))
                }
                initialized = count
            }
        case .bf16:
            return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                for i in 0..<count {
                    let bits = base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: bits)) << 16)
                }
                initialized = count
            }
        default:
            throw EngramError.unsupportedDType(name: name, dtype: info.dtype.rawValue)
        }
    }

    /// Like `floats(_:)`, but first checks the tensor's shape.
    /// - Throws: `EngramError` `.dataLoss` (`shapeMismatch`) when the shape differs from `shape`.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        guard let info = tensors[name] else { throw EngramError.missingTensor(name: name, path: path) }
        guard info.shape == shape else { throw EngramError.shapeMismatch(name: name, expected: shape, found: info.shape) }
        return try floats(name)
    }
}

/// A whole file mapped read-only; unmapped in `deinit`.
final class MappedFile: @unchecked Sendable {
    let path: String
    let bytes: UnsafePointer<UInt8>
    let count: Int
    private let mapped: Bool

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT: throw EngramError.missingModelFile(path: path)
            case EACCES, EPERM: throw EngramError.unreadableModelFile(path: path, problem: String(cString: strerror(code)), code: .permissionDenied)
            default: throw EngramError.unreadableModelFile(path: path, problem: String(cString: strerror(code)), code: .unavailable)
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw EngramError.unreadableModelFile(path: path, problem: String(cString: strerror(errno)), code: .unavailable)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw EngramError.unreadableModelFile(path: path, problem: "not a regular file", code: .failedPrecondition)
        }
        let size = Int(st.st_size)
        count = size
        if size == 0 {
            // mmap refuses empty files; point at a static empty buffer.
            bytes = UnsafePointer(UnsafeMutablePointer<UInt8>.allocate(capacity: 1))
            mapped = false
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw EngramError.unreadableModelFile(path: path, problem: "mmap failed: \(String(cString: strerror(errno)))", code: .unavailable)
        }
        bytes = UnsafePointer(p.assumingMemoryBound(to: UInt8.self))
        mapped = true
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: bytes), count)
        } else {
            UnsafeMutablePointer(mutating: bytes).deallocate()
        }
    }
}
