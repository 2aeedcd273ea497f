import EngramBase
import Foundation

/// Memory from `mmap`, unmapped when the last owner lets go: anonymous (zero pages that cost
/// memory only once written, and go back to the system the moment they are freed, where
/// malloc would keep them in its arenas) or a file mapped privately (pages read from the
/// page cache on first use; a write to a page copies it for this process, never the file).
///
/// Thread-safety: the region itself never changes; what its owners write into it, and when,
/// is theirs to order.
final class MappedRegion: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let length: Int

    /// `length` bytes of zeros.
    init(anonymous length: Int) {
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              base != MAP_FAILED else {
            // As an allocation failure anywhere else in Swift: the process cannot go on.
            fatalError("out of memory: cannot map \(length) bytes")
        }
        self.base = base
        self.length = length
    }

    /// The whole file at `path`, private to this process.
    init(privateFile path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EngramError.fromErrno("opening \(path)", errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw EngramError.fromErrno("reading \(path)", errno) }
        length = Int(info.st_size)
        guard length > 0 else { throw EngramError.corrupt("\(path) is empty") }
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw EngramError.fromErrno("mapping \(path)", errno)
        }
        self.base = base
    }

    deinit { munmap(base, length) }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: length) }
}
