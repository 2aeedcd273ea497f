#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
extension EngramError.Reason {
    /// A line longer than the reader's limit (code `invalidArgument`).
    public static let lineTooLong = EngramError.Reason("LINE_TOO_LONG")
}

/// Reads a file, or standard input, in large chunks and hands out its lines without copying
/// them.
///
/// Lines end at `\n` (a `\r` before it stays part of the line); the last line needs no
/// newline, unless `completeLinesOnly` (a file still being appended to: its last bytes after
/// the last newline are a torn line, left for a later read); an empty file has no lines. Memory use is bounded by about
/// `maxLineBytes + 2 × chunkBytes`: a line longer than the limit is refused as soon as that
/// many bytes of it have been read, without reading the rest; or, with `skipOversized`, it
/// is handed out cut to its first `oversizedPrefix` bytes (`fullLength` tells its length)
/// and the reader goes on at the next line.
///
/// Thread-safety: none; one reader per thread.
public final class LineReader {
    /// One line: its 1-based number, its bytes without the newline, and where it starts and
    /// where the next one starts in the file.
    public struct Line {
        public let number: Int
        /// Valid until the next call to `next()` or until the reader is released.
        public let bytes: UnsafeRawBufferPointer
        /// The file offset of its first byte.
        public let offset: Int64
        /// The file offset just past it and its newline.
        public let endOffset: Int64
        /// Its length in the file: more than `bytes.count` for an oversized line cut short.
        public let fullLength: Int
        /// An oversized line handed out cut short (`skipOversized`).
        public var isCut: Bool { fullLength > bytes.count }
    }

    /// Bytes of an oversized line kept when `skipOversized` (at most `maxLineBytes`).
    public static let oversizedPrefix = 4096

    /// Bytes asked of the operating system per read (4 MiB).
    public static let defaultChunkBytes = 4 << 20

    /// Total size of the file, nil for standard input and other streams.
    public let size: Int64?
    /// Bytes read from the file so far (for a progress bar).
    public private(set) var bytesRead: Int64 = 0

    private let path: String
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private let maxLineBytes: Int
    private let chunkBytes: Int
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    /// Unconsumed bytes are `buffer[start..<end]`; no newline is in `buffer[start..<scanned]`.
    private var start = 0, end = 0, scanned = 0
    private var atEnd = false
    private var lineNumber = 0
    private let completeLinesOnly: Bool
    private let skipOversized: Bool
    /// Bytes of the current (oversized) line dropped from the buffer after its prefix.
    private var dropped = 0
    /// The file offset of `buffer[start]`.
    private var startOffset: Int64

    /// Opens `path` (`-` for standard input).
    ///
    /// - Parameters:
    ///   - maxLineBytes: longest accepted line, newline excluded.
    ///   - chunkBytes: bytes asked per read (clamped to 1 B…1 GiB).
    ///   - offset: where to start reading (a file only): the start of a line.
    ///   - completeLinesOnly: hand out only lines ended by a newline.
    ///   - skipOversized: hand out a line longer than `maxLineBytes` cut short instead of
    ///     failing.
    /// - Throws: `EngramError` `notFound`, `permissionDenied` or `unavailable` when the file
    ///   cannot be opened (message `cannot read <path>: <reason>`).
    public init(path: String, maxLineBytes: Int, chunkBytes: Int = LineReader.defaultChunkBytes,
                offset: Int64 = 0, completeLinesOnly: Bool = false, skipOversized: Bool = false) throws(EngramError) {
        self.path = path
        self.skipOversized = skipOversized
        self.maxLineBytes = maxLineBytes
        self.chunkBytes = min(max(chunkBytes, 1), 1 << 30)
        self.completeLinesOnly = completeLinesOnly
        startOffset = offset
        if path == "-" {
            descriptor = STDIN_FILENO
            ownsDescriptor = false
        } else {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw Self.failure("cannot read \(path)", errno: errno) }
            ownsDescriptor = true
        }
        var status = stat()
        size = fstat(descriptor, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG ? Int64(status.st_size) : nil
        if offset > 0 {
            guard lseek(descriptor, off_t(offset), SEEK_SET) == off_t(offset) else {
                let failure = Self.failure("cannot seek to \(offset) in \(path)", errno: errno)
                if ownsDescriptor { close(descriptor) }
                throw failure
            }
        }
        capacity = 2 * self.chunkBytes
        buffer = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit {
        buffer.deallocate()
        if ownsDescriptor { close(descriptor) }
    }

    /// The next line, or nil after the last one.
    ///
    /// - Throws: `EngramError` `invalidArgument`/`lineTooLong` for a line longer than
    ///   `maxLineBytes` (message `line N is longer than M bytes (--max-line-bytes)`);
    ///   `unavailable` when reading fails. The reader is not usable after an error.
    public func next() throws(EngramError) -> Line? {
        while true {
            if let newline = memchr(buffer + scanned, 0x0A, end - scanned) {
                let length = buffer.distance(to: newline) - start
                if length + dropped > maxLineBytes && !skipOversized { throw tooLong() }
                return take(length, consuming: length + 1)
            }
            scanned = end
            if end - start + dropped > maxLineBytes {
                guard skipOversized else { throw tooLong() }
                // Keep the prefix, drop the rest of what was read, and look on for the newline.
                let keep = min(Self.oversizedPrefix, maxLineBytes)
                dropped += end - start - keep
                end = start + keep
                scanned = end
            }
            if atEnd {
                return start < end && !completeLinesOnly ? take(end - start, consuming: end - start) : nil
            }
            try fill()
        }
    }

    /// Hands out `buffer[start..<start+length]` (cut to the prefix if the line was oversized)
    /// and moves past `consuming` bytes of the buffer plus what was dropped.
    private func take(_ length: Int, consuming: Int) -> Line {
        lineNumber += 1
        let full = length + dropped
        let kept = full > maxLineBytes ? min(length, Self.oversizedPrefix, maxLineBytes) : length
        let line = Line(number: lineNumber, bytes: UnsafeRawBufferPointer(start: buffer + start, count: kept),
                        offset: startOffset, endOffset: startOffset + Int64(consuming + dropped), fullLength: full)
        start += consuming
        startOffset += Int64(consuming + dropped)
        scanned = start
        dropped = 0
        return line
    }

    /// Moves the unconsumed bytes to the front, grows the buffer if less than a chunk is
    /// free, and reads once (or notes the end of the file).
    private func fill() throws(EngramError) {
        let pending = end - start
        if start > 0 {
            buffer.copyMemory(from: buffer + start, byteCount: pending)
            start = 0
            end = pending
            scanned = pending
        }
        if capacity - end < chunkBytes {
            // Doubling keeps the copies of a long line linear; `end <= maxLineBytes` here.
            let limit = maxLineBytes > Int.max - 2 * chunkBytes ? Int.max : maxLineBytes + 2 * chunkBytes
            let grownCapacity = min(max(2 * capacity, end + 2 * chunkBytes), limit)
            let grown = UnsafeMutableRawPointer.allocate(byteCount: grownCapacity, alignment: 64)
            grown.copyMemory(from: buffer, byteCount: end)
            buffer.deallocate()
            buffer = grown
            capacity = grownCapacity
        }
        while true {
            let count = read(descriptor, buffer + end, capacity - end)
            if count > 0 {
                end += count
                bytesRead += Int64(count)
                return
            }
            if count == 0 {
                atEnd = true
                return
            }
            guard errno == EINTR else { throw Self.failure("reading \(path) failed", errno: errno) }
        }
    }

    private func tooLong() -> EngramError {
        EngramError(.invalidArgument, "line \(lineNumber + 1) is longer than \(maxLineBytes) bytes (--max-line-bytes)",
                    reason: .lineTooLong)
    }

    private static func failure(_ what: String, errno code: Int32) -> EngramError {
        let reason = String(cString: strerror(code))
        switch code {
        case ENOENT: return EngramError(.notFound, "\(what): \(reason)")
        case EACCES, EPERM: return EngramError(.permissionDenied, "\(what): \(reason)")
        default: return EngramError(.unavailable, "\(what): \(reason)")
        }
    }
}
