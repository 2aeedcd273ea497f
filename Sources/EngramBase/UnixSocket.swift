#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking connection to a Unix domain socket: the one place that fills a `sockaddr_un`
/// (for probing whether a daemon answers, and for simple clients such as the benchmarks').
public enum UnixSocket {
    /// A connected stream socket's descriptor (the caller closes it).
    /// - Throws: `EngramError` `.invalidArgument` for a path too long for a socket address,
    ///   `.unavailable` when nothing accepts there.
    public static func connect(path: String) throws(EngramError) -> Int32 {
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else {
            throw EngramError(.invalidArgument, "the socket path \(path) is \(path.utf8.count) bytes; at most \(capacity - 1) fit a Unix socket address")
        }
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw EngramError(.unavailable, "cannot make a socket: \(String(cString: strerror(errno)))") }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw EngramError(.unavailable, "cannot connect to \(path): \(reason)")
        }
        return fd
    }
}
