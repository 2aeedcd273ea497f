import Engram
import Foundation

/// The bearer token TCP clients must send (`metadata.authorization: "Bearer TOKEN"`): 32
/// random bytes as 64 hex digits, kept in a file only its owner may read.
package enum AccessToken {
    /// The token in `path`, made on first use (mode 0600, created exclusively so that two
    /// daemons starting at once agree on one).
    /// - Throws: `EngramError` `.permissionDenied` when the file may be read by others (its
    ///   token would not be a secret) or cannot be written; `.failedPrecondition` for a file
    ///   that holds no token.
    package static func loadOrCreate(at path: String) throws -> String {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            defer { close(fd) }
            // SystemRandomNumberGenerator reads the kernel's cryptographic source (getrandom).
            var generator = SystemRandomNumberGenerator()
            let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            let line = Array((token + "\n").utf8)
            guard write(fd, line, line.count) == line.count, fsync(fd) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(path)
                throw EngramError(.permissionDenied, "cannot write the access token to \(path): \(reason)")
            }
            return token
        }
        guard errno == EEXIST else {
            throw EngramError(.permissionDenied, "cannot create the access token file \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw EngramError(.permissionDenied, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw EngramError(.permissionDenied, "\(path) may be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); make it 0600 ([server] token_file)")
        }
        let token = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard token.count >= 16 else {
            throw EngramError(.failedPrecondition, "\(path) holds no access token (at least 16 characters); delete it to have a new one made")
        }
        return token
    }

    /// Whether a call of `method` with `authorization` may run where `token` is asked (nil:
    /// none is): every method but `Health/Check` carries it.
    package static func admits(_ method: RPCMethod, authorization: String?, token: String?) -> Bool {
        guard let token, method != .healthCheck else { return true }
        return admits(authorization, token: token)
    }

    /// Whether `authorization` (a request's `metadata.authorization`) is `Bearer TOKEN`,
    /// compared in time independent of where they differ.
    package static func admits(_ authorization: String?, token: String) -> Bool {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return false }
        let given = Array(authorization.utf8.dropFirst(7)), expected = Array(token.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for i in 0..<expected.count { difference |= expected[i] ^ (i < given.count ? given[i] : 0) }
        return difference == 0
    }
}

/// What a TCP listener (NDJSON or gRPC) takes from `[server]`: its address, the TLS files
/// (nil: plain TCP), the token calls must carry.
package struct TCPAccess: Sendable {
    package var address: TCPAddress
    package var tls: (certificate: String, key: String)?
    package var token: String

    /// The listener at `value`, the `[server]` `setting` named in errors; relative paths are
    /// in the database `directory`.
    /// - Throws: `EngramError` `.invalidArgument` for a bad address; `.failedPrecondition` for
    ///   a non-loopback address without TLS (unless `allow_insecure_tcp`); the token file's
    ///   errors.
    package init(_ value: String, setting: String, settings: ServerSettings, directory: URL) throws {
        address = try TCPAddress(parsing: value, setting: setting)
        if !settings.tlsCertificate.isEmpty {
            tls = (settings.path(settings.tlsCertificate, in: directory), settings.path(settings.tlsKey, in: directory))
        } else if !address.isLoopback && !settings.allowInsecureTCP {
            throw EngramError(.failedPrecondition, "[server] \(setting) = \"\(value)\" is reachable from other machines: give tls_certificate and tls_key, or set allow_insecure_tcp = true to send tokens and memories in the clear")
        }
        token = try AccessToken.loadOrCreate(at: settings.path(settings.tokenFile, in: directory))
    }
}
