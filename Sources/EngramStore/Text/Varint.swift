import EngramBase

/// LEB128 variable-length unsigned integers (7 bits a byte, low bits first), as the postings
/// blocks store them.
enum Varint {
    static func append(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Reads varints from a buffer, throwing on truncation instead of reading past its end.
    struct Reader {
        private let buffer: UnsafeRawBufferPointer
        private var offset = 0
        init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

        var atEnd: Bool { offset == buffer.count }

        mutating func byte() throws -> UInt8 {
            guard offset < buffer.count else { throw EngramError.corrupt("truncated data") }
            defer { offset += 1 }
            return buffer[offset]
        }

        /// `count` bytes as UTF-8 text.
        mutating func string(_ count: Int) throws -> String {
            guard count >= 0, count <= buffer.count - offset else { throw EngramError.corrupt("truncated data") }
            defer { offset += count }
            return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + count]), as: UTF8.self)
        }

        @inline(__always)
        mutating func next() throws -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while offset < buffer.count {
                let byte = buffer[offset]
                offset += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return result }
                shift += 7
                if shift > 63 { break }
            }
            throw EngramError.corrupt("a varint is truncated or too long")
        }
    }
}
