import Engram
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle

/// The socket API over real gRPC (HTTP/2, grpc-swift-2 and its NIO transport), as a service of
/// swift-service-lifecycle: every method of `RPCMethod` at its gRPC path
/// (`/engram.v1.Memory/Query`), with JSON messages: a request message is the method's params
/// object, an answer is its result (unary) or each of its stream's messages. gRPC's own
/// deadlines (`grpc-timeout`), cancellation and flow control apply; errors are gRPC statuses
/// with the same codes and messages as the NDJSON protocol's. `Control/Cancel` is not offered:
/// gRPC cancels a call itself.
///
/// On TCP every method but `Health/Check` needs `authorization: Bearer TOKEN` in the call's
/// metadata, and TLS when configured, as the NDJSON listener.
public struct GRPCListener: Service {
    /// Where the listener is.
    public enum Address: Sendable, CustomStringConvertible {
        case unix(path: String)
        case tcp(TCPAddress, tls: (certificate: String, key: String)?, token: String)

        public var description: String {
            switch self {
            case let .unix(path): return "gRPC on \(path)"
            case let .tcp(address, tls, _): return "gRPC on tcp \(address)\(tls == nil ? "" : " (TLS)")"
            }
        }
    }

    let service: EngramService
    let settings: ServerSettings
    public let address: Address
    let logger: Logger

    public init(service: EngramService, settings: ServerSettings, address: Address, logger: Logger) {
        self.service = service
        self.settings = settings
        self.address = address
        self.logger = logger
    }

    /// The gRPC listener `settings` ask for in the database `directory`: nil when `[server]
    /// grpc` is empty; `unix:PATH` a Unix socket (in a directory only its owner may enter),
    /// else `HOST:PORT` with the TCP listener's token and TLS rules.
    /// - Throws: as `SocketServer.tcpEndpoint`.
    public static func address(_ settings: ServerSettings, directory: URL) throws -> Address? {
        guard !settings.grpc.isEmpty else { return nil }
        if settings.grpc.hasPrefix("unix:") {
            return .unix(path: settings.path(String(settings.grpc.dropFirst(5)), in: directory))
        }
        let access = try TCPAccess(settings.grpc, setting: "grpc", settings: settings, directory: directory)
        return .tcp(access.address, tls: access.tls, token: access.token)
    }

    public func run() async throws {
        let transport: HTTP2ServerTransport.Posix
        var token: String?
        switch address {
        case let .unix(path):
            try SocketServer.prepareDirectory(of: path)
            try? FileManager.default.removeItem(atPath: path)
            transport = HTTP2ServerTransport.Posix(address: .unixDomainSocket(path: path), transportSecurity: .plaintext)
        case let .tcp(address, tls, required):
            token = required
            let security: HTTP2ServerTransport.Posix.TransportSecurity = tls.map {
                .tls(certificateChain: [.file(path: $0.certificate, format: .pem)], privateKey: .file(path: $0.key, format: .pem))
            } ?? .plaintext
            let socket: GRPCNIOTransportCore.SocketAddress = address.host.contains(":")
                ? .ipv6(host: address.host, port: address.port) : .ipv4(host: address.host == "localhost" ? "127.0.0.1" : address.host, port: address.port)
            transport = HTTP2ServerTransport.Posix(address: socket, transportSecurity: security)
        }
        let methods = GRPCMethods(service: service, token: token, maxDepth: settings.maxDepth)
        let server = GRPCServer(transport: transport, services: [methods])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            if case let .unix(path) = address {
                // The socket exists once the transport listens: make it its owner's alone.
                _ = try await transport.listeningAddress
                guard chmod(path, 0o600) == 0 else {
                    server.beginGracefulShutdown()
                    throw EngramError(.permissionDenied, "cannot make \(path) private: \(String(cString: strerror(errno)))")
                }
            }
            logger.notice("engramd: serving the socket API as \(address)")
            try await gracefulShutdown()
            server.beginGracefulShutdown()
        }
        if case let .unix(path) = address { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// The methods, registered with grpc-swift-2's router under their gRPC names.
package struct GRPCMethods: RegistrableRPCService {
    let service: EngramService
    let token: String?
    let maxDepth: Int

    package func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        for method in RPCMethod.allCases where method != .controlCancel {
            let name = method.rawValue.split(separator: "/", maxSplits: 1)
            router.registerHandler(forMethod: MethodDescriptor(fullyQualifiedService: String(name[0]), method: String(name[1])),
                                   deserializer: JSONBytes(), serializer: JSONBytes()) { request, _ in
                try await handle(method, request)
            }
        }
    }

    private func handle(_ method: RPCMethod, _ request: StreamingServerRequest<[UInt8]>) async throws -> StreamingServerResponse<[UInt8]> {
        let started = ContinuousClock.now
        let timeout = request.metadata[stringValues: "grpc-timeout"].first { _ in true }.flatMap(Self.timeout)
        let authorization = request.metadata[stringValues: "authorization"].first { _ in true }
        guard AccessToken.admits(method, authorization: authorization, token: token) else {
            throw RPCError(code: .unauthenticated, message: "\(method.rawValue) needs the metadata authorization: Bearer TOKEN, the token in the database's [server] token_file")
        }
        var params: [String: JSONValue]?
        for try await message in request.messages {
            guard params == nil else { throw RPCError(code: .invalidArgument, message: "\(method.rawValue) takes one request message") }
            do {
                let parser = try SimdJSONParser(maxDepth: maxDepth + 1, malformedReason: .malformedRequest)
                params = try NDJSONProtocol.params(message, maxDepth: maxDepth, parser: parser)
            } catch {
                throw RPCError(error)
            }
        }
        let call = params ?? [:]
        let service = self.service
        return StreamingServerResponse { writer in
            do {
                if let result = try await service.call(method, params: call, emit: { try await writer.write(Array($0)) }) {
                    try await writer.write(Array(result))
                }
            } catch {
                throw Self.status(of: error, timeout: timeout, elapsed: ContinuousClock.now - started)
            }
            return [:]
        }
    }

    /// The gRPC status of a call that ended in `error`. grpc-swift cancels a call at its
    /// `grpc-timeout` as it does when the client cancels it: a cancellation once the timeout
    /// has (nearly) passed is the deadline's, `DEADLINE_EXCEEDED`, as the client's own timer
    /// says; before, it is the client's (`CANCELLED`, which a client that cancelled never reads).
    package static func status(of error: any Error, timeout: Duration?, elapsed: Duration) -> RPCError {
        let cancelled = error is CancellationError || (error as? EngramError)?.code == .cancelled
        if cancelled, let timeout, elapsed >= timeout - deadlineSlack {
            return RPCError(code: .deadlineExceeded, message: "the call did not finish within its deadline (grpc-timeout \(timeout))")
        }
        return RPCError(error)
    }

    /// How much earlier than this handler grpc-swift may start a call's deadline timer (it
    /// starts it before routing the call here).
    package static let deadlineSlack = Duration.milliseconds(20)

    /// The duration of a `grpc-timeout` header: 1 to 8 digits and a unit (`H`, `M`, `S`, `m`,
    /// `u`, `n`); nil for anything else. Read here because grpc-swift's own reader of it is
    /// internal to GRPCCore.
    package static func timeout(_ header: String) -> Duration? {
        let digits = header.dropLast()
        guard let unit = header.last, (1...8).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int64(digits) else { return nil }
        switch unit {
        case "H": return .seconds(value * 3600)
        case "M": return .seconds(value * 60)
        case "S": return .seconds(value)
        case "m": return .milliseconds(value)
        case "u": return .microseconds(value)
        case "n": return .nanoseconds(value)
        default: return nil
        }
    }
}

/// Messages as their bytes: JSON documents, read and written by the service.
struct JSONBytes: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

extension RPCError {
    /// The gRPC status of an error of the service (an `EngramError`'s code and message; a
    /// cancellation `CANCELLED`).
    init(_ error: any Error) {
        if let error = error as? RPCError {
            self = error
            return
        }
        guard let error = error as? EngramError else {
            self.init(code: error is CancellationError ? .cancelled : .internalError, message: "\(error)")
            return
        }
        let code: RPCError.Code
        switch error.code {
        case .cancelled: code = .cancelled
        case .invalidArgument: code = .invalidArgument
        case .deadlineExceeded: code = .deadlineExceeded
        case .notFound: code = .notFound
        case .alreadyExists: code = .alreadyExists
        case .permissionDenied: code = .permissionDenied
        case .resourceExhausted: code = .resourceExhausted
        case .failedPrecondition: code = .failedPrecondition
        case .aborted: code = .aborted
        case .outOfRange: code = .outOfRange
        case .unimplemented: code = .unimplemented
        case .internal: code = .internalError
        case .unavailable: code = .unavailable
        case .dataLoss: code = .dataLoss
        case .unauthenticated: code = .unauthenticated
        }
        self.init(code: code, message: error.message)
    }
}
