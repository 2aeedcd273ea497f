import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Tells the watcher that something changed in the watched directories (Linux inotify), so
/// that a line appended to a log is applied at once instead of at the next poll. Where
/// inotify is missing (or out of watches), `make` returns nil and the watcher polls.
///
/// Thread-safety: `wait` may be called from one task at a time; the descriptor is only read.
final class ChangeSignal: Sendable {
    private let descriptor: Int32

    /// Longest single blocking wait, so that cancellation is seen within this time.
    static let slice = Duration.milliseconds(50)

    private init(descriptor: Int32) { self.descriptor = descriptor }

    deinit { close(descriptor) }

    /// A signal for changes to the files in `directories` (created, written, renamed, deleted).
    static func make(directories: Set<String>) -> ChangeSignal? {
        #if os(Linux)
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        let mask = UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)
        for directory in directories where inotify_add_watch(fd, directory, mask) < 0 {
            close(fd)
            return nil
        }
        return ChangeSignal(descriptor: fd)
        #else
        return nil
        #endif
    }

    /// Returns when something changed (the events are consumed) or after `timeout`, or soon
    /// after the task is cancelled.
    func wait(upTo timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while !Task.isCancelled {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return }
            let slice = min(left, Self.slice)
            let milliseconds = Int32(max(1, slice.components.seconds * 1000 + slice.components.attoseconds / 1_000_000_000_000_000))
            let fd = descriptor
            let ready = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                // poll(2) blocks: it runs on a thread of its own, never on the cooperative pool.
                DispatchQueue.global().async {
                    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    continuation.resume(returning: poll(&entry, 1, milliseconds) > 0)
                }
            }
            if ready {
                drain()
                return
            }
        }
    }

    /// Reads the pending events (their content does not matter: any change means look again).
    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
    }
}
