import EngramBase
import Foundation

/// The stored vectors, by label: row `label` of `vectors.f32` holds that label's unit vector
/// as `dimension` little-endian float32s. The only copy of the vectors on disk.
///
/// A write puts the rows of new labels past the committed ones and syncs the file before
/// the RocksDB batch that makes those labels live is committed, so a committed label always
/// has its row; rows past the committed labels (left by a crash) are garbage that the next
/// write overwrites. Rows are read with `pread` (through the page cache, outside the
/// process's resident memory), never memory-mapped.
///
/// Thread-safety: reads may run on any thread at any time; writes are serialised by the
/// store's writer, and only ever touch rows that no reader can see yet.
final class VectorFile: @unchecked Sendable {
    let dimension: Int
    let path: String
    private let fd: Int32
    private let readOnly: Bool
    var rowBytes: Int { dimension * 4 }

    static let fileName = "vectors.f32"

    init(directory: URL, dimension: Int, readOnly: Bool) throws {
        self.dimension = dimension
        self.readOnly = readOnly
        path = directory.appendingPathComponent(Self.fileName).path
        fd = readOnly ? open(path, O_RDONLY | O_CLOEXEC) : open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            if readOnly && errno == ENOENT {
                throw EngramError.corrupt("\(path) is missing: the database's vectors are gone")
            }
            throw EngramError.storage("cannot open \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    /// Rows the file holds room for (committed labels are below this).
    var rowCapacity: Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return 0 }
        return Int64(info.st_size) / Int64(rowBytes)
    }

    /// Writes rows (`vectors` holds `labels.count` rows, row-major) at their labels. Call
    /// `sync()` before committing the batch that refers to them.
    func write(labels: [Int64], vectors: UnsafeBufferPointer<Float>) throws {
        precondition(vectors.count == labels.count * dimension)
        guard !readOnly else { throw EngramError.readOnly }
        var i = 0
        while i < labels.count {
            // Consecutive labels go out in one pwrite.
            var j = i + 1
            while j < labels.count && labels[j] == labels[j - 1] + 1 { j += 1 }
            try writeRun(at: labels[i], from: vectors.baseAddress! + i * dimension, rows: j - i)
            i = j
        }
    }

    private func writeRun(at label: Int64, from start: UnsafePointer<Float>, rows: Int) throws {
        var offset = off_t(label) * off_t(rowBytes)
        var remaining = rows * rowBytes
        var source = UnsafeRawPointer(start)
        while remaining > 0 {
            let n = pwrite(fd, source, remaining, offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw EngramError.fromErrno("writing \(path)", errno)
            }
            remaining -= n
            offset += off_t(n)
            source += n
        }
    }

    /// Makes every written row durable.
    func sync() throws {
        guard fdatasync(fd) == 0 else { throw EngramError.fromErrno("syncing \(path)", errno) }
    }

    /// Reads the row of `label` into `out` (room for `dimension` floats).
    func read(_ label: Int64, into out: UnsafeMutablePointer<Float>) throws {
        try read(from: label, rows: 1, into: out)
    }

    /// Reads rows `first ..< first + rows` into `out` (room for `rows × dimension` floats),
    /// with one `pread` as far as the kernel allows.
    func read(from label: Int64, rows: Int, into out: UnsafeMutablePointer<Float>) throws {
        var offset = off_t(label) * off_t(rowBytes)
        var remaining = rows * rowBytes
        var target = UnsafeMutableRawPointer(out)
        while remaining > 0 {
            let n = pread(fd, target, remaining, offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw EngramError.fromErrno("reading \(path)", errno)
            }
            if n == 0 { throw EngramError.corrupt("\(path) ends before the vector of label \(label + Int64(rows) - 1)") }
            remaining -= n
            offset += off_t(n)
            target += n
        }
    }

    /// Reads `labels` in order into a new row-major array. Ascending labels at most
    /// `gatherGap` apart are read as one range: one system call instead of one per label.
    func rows(_ labels: ArraySlice<Int64>) throws -> [Float] {
        let d = dimension
        var scratch: [Float] = []
        return try [Float](unsafeUninitializedCapacity: labels.count * d) { buffer, count in
            let out = buffer.baseAddress!
            var i = labels.startIndex, written = 0
            while i < labels.endIndex {
                var j = i + 1
                while j < labels.endIndex, labels[j] > labels[j - 1], labels[j] - labels[j - 1] <= Self.gatherGap,
                      labels[j] - labels[i] < Self.gatherRows { j += 1 }
                let span = Int(labels[j - 1] - labels[i]) + 1
                if span == j - i {
                    try read(from: labels[i], rows: span, into: out + written * d)
                } else {
                    if scratch.count < span * d { scratch = [Float](repeating: 0, count: span * d) }
                    try scratch.withUnsafeMutableBufferPointer { s in
                        try read(from: labels[i], rows: span, into: s.baseAddress!)
                        for (n, label) in labels[i..<j].enumerated() {
                            (out + (written + n) * d).update(from: s.baseAddress! + Int(label - labels[i]) * d, count: d)
                        }
                    }
                }
                written += j - i
                i = j
            }
            count = labels.count * d
        }
    }

    /// Rows between two labels up to which `rows(_:)` reads the gap rather than making
    /// another call (a row is 1.5 KB at 384 dimensions: a few more cost less than a call).
    static let gatherGap: Int64 = 4
    /// Rows read in one range at most (bounds the scratch buffer).
    static let gatherRows: Int64 = 256

    /// The vector of `label`.
    func vector(_ label: Int64) throws -> [Float] {
        try [Float](unsafeUninitializedCapacity: dimension) { buffer, count in
            try read(label, into: buffer.baseAddress!)
            count = dimension
        }
    }

    /// Visits rows `0..<count` in order, `chunk` rows at a time (for rebuilds and checks).
    func scan(count: Int64, chunk: Int = 4096, _ body: (Int64, UnsafeBufferPointer<Float>) throws -> Void) throws {
        var buffer = [Float](repeating: 0, count: chunk * dimension)
        var start: Int64 = 0
        while start < count {
            let rows = Int(min(Int64(chunk), count - start))
            try buffer.withUnsafeMutableBufferPointer { b in
                var offset = off_t(start) * off_t(rowBytes)
                var remaining = rows * rowBytes
                var target = UnsafeMutableRawPointer(b.baseAddress!)
                while remaining > 0 {
                    let n = pread(fd, target, remaining, offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw EngramError.fromErrno("reading \(path)", errno)
                    }
                    if n == 0 { throw EngramError.corrupt("\(path) ends before label \(start + Int64(rows))") }
                    remaining -= n
                    offset += off_t(n)
                    target += n
                }
                try body(start, UnsafeBufferPointer(rebasing: b[0..<rows * dimension]))
            }
            start += Int64(rows)
        }
    }

    /// Bytes the file occupies on disk.
    var allocatedBytes: Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return 0 }
        return Int64(info.st_blocks) * 512
    }
}

extension EngramError {
    /// A failed system call on the database's files: a full disk and a read-only file system
    /// get their own message.
    static func fromErrno(_ what: String, _ code: Int32) -> EngramError {
        switch code {
        case ENOSPC: return .storage("the disk is full (\(what)); free space and retry — nothing acknowledged was lost")
        case EROFS, EACCES, EPERM: return .storage("cannot write to the database directory (\(what): \(String(cString: strerror(code))))")
        default: return .storage("\(what): \(String(cString: strerror(code)))")
        }
    }
}

/// fsync a file or directory by path.
func fsyncPath(_ path: String) throws {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw EngramError.fromErrno("opening \(path)", errno) }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw EngramError.fromErrno("syncing \(path)", errno) }
}
