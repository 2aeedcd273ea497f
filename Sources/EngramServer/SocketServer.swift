import Engram
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Serves `EngramService` as NDJSON on a Unix socket or on TCP (SwiftNIO), as a service of
/// swift-service-lifecycle.
///
/// The Unix socket is made in a directory only its owner may enter (0700) and is itself 0600.
/// On TCP every call but `Health/Check` needs the bearer token, and TLS (swift-nio-ssl) when
/// configured. Requests on one connection run concurrently, up to `max_calls_per_connection`;
/// beyond that the socket is not read (back-pressure reaches the client), and a client that
/// never reads its answers stops being read too, so memory stays bounded. Graceful shutdown
/// stops accepting and reading, lets unary calls in flight finish, and ends streams with
/// `UNAVAILABLE`.
public struct SocketServer: Service {
    /// Where a server listens.
    public enum Endpoint: Sendable, CustomStringConvertible {
        /// A Unix socket at `path`.
        case unix(path: String)
        /// TCP at the address, with TLS when `tls` is given; calls need `token`.
        case tcp(TCPAddress, tls: NIOSSLContext?, token: String)

        public var description: String {
            switch self {
            case let .unix(path): return path
            case let .tcp(address, tls, _): return "tcp \(address)\(tls == nil ? "" : " (TLS)")"
            }
        }
    }

    let service: EngramService
    let settings: ServerSettings
    public let endpoint: Endpoint
    let logger: Logger

    public init(service: EngramService, settings: ServerSettings, endpoint: Endpoint, logger: Logger) {
        self.service = service
        self.settings = settings
        self.endpoint = endpoint
        self.logger = logger
    }

    /// The TCP endpoint `settings` ask for in the database `directory` (nil when `[server]
    /// tcp` is empty): the token read or made, the TLS context built.
    /// - Throws: `EngramError` `.failedPrecondition` for a non-loopback address without TLS
    ///   (unless `allow_insecure_tcp`), the token file's errors, `.invalidArgument` for a
    ///   certificate or key that cannot be read.
    public static func tcpEndpoint(_ settings: ServerSettings, directory: URL) throws -> Endpoint? {
        guard !settings.tcp.isEmpty else { return nil }
        let access = try TCPAccess(settings.tcp, setting: "tcp", settings: settings, directory: directory)
        var tls: NIOSSLContext?
        if let (certificate, key) = access.tls {
            do {
                let configuration = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
                tls = try NIOSSLContext(configuration: configuration)
            } catch {
                throw EngramError.invalidArgument("[server] tls_certificate \(certificate) and tls_key \(key): \(error)")
            }
        }
        return .tcp(access.address, tls: tls, token: access.token)
    }

    public func run() async throws {
        let maxFrame = settings.maxFrameBytes, idle = settings.idleTimeout
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            // A client that shuts down its sending side after its requests (socat, nc -N)
            // still gets its answers.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let token: String?
        if case let .tcp(_, _, required) = endpoint { token = required } else { token = nil }
        let open = OpenConnections()
        let service = self.service, settings = self.settings
        let queries = QueryBatches(service: service)
        // A connection is counted against max_connections as it is set up, so that one over
        // the limit never has a call answered (`InlineCallHandler` answers before `run` sees it).
        @Sendable func pipeline(_ channel: any Channel, tls: NIOSSLContext?) -> EventLoopFuture<Accepted> {
            channel.eventLoop.makeCompletedFuture {
                let admitted = open.add(channel, limit: settings.maxConnections)
                let calls = Calls()
                let sync = channel.pipeline.syncOperations
                if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
                try sync.addHandler(IdleStateHandler(allTimeout: .milliseconds(Int64(idle * 1000))))
                try sync.addHandler(IdleCloser())
                try sync.addHandler(ByteToMessageHandler(NDJSONFrameDecoder(maxFrameBytes: maxFrame)))
                try sync.addHandler(InlineCallHandler(service: service, settings: settings, token: token, calls: calls, answers: admitted,
                                                      queries: queries.batch(on: channel.eventLoop)))
                let async = try NIOAsyncChannel<ConnectionInput, ByteBuffer>(wrappingChannelSynchronously: channel)
                return Accepted(channel: async, calls: calls, admitted: admitted)
            }
        }
        let server: NIOAsyncChannel<Accepted, Never>
        switch endpoint {
        case let .unix(path):
            try Self.prepareDirectory(of: path)
            server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { pipeline($0, tls: nil) }
            guard chmod(path, 0o600) == 0 else {
                try? await server.channel.close()
                throw EngramError(.permissionDenied, "cannot make \(path) private: \(String(cString: strerror(errno)))")
            }
        case let .tcp(address, tls, _):
            do {
                server = try await bootstrap.serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: address.host, port: address.port) { pipeline($0, tls: tls) }
            } catch {
                throw EngramError(.unavailable, "cannot listen on \(address) ([server] tcp): \(error)")
            }
        }
        logger.notice("engramd: serving the socket API on \(endpoint)")
        let shuttingDown = OnceFlag()
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await accepted in inbound {
                        let connection = accepted.channel
                        guard accepted.admitted else {
                            group.addTask { await Self.refuse(connection, limit: settings.maxConnections) }
                            continue
                        }
                        CallMetrics.connectionOpened()
                        group.addTask {
                            defer {
                                open.remove(connection.channel)
                                CallMetrics.connectionClosed()
                            }
                            await Connection(service: service, settings: settings, logger: logger, shuttingDown: shuttingDown, token: token)
                                .serve(connection, calls: accepted.calls)
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            shuttingDown.set()
            server.channel.close(promise: nil)
            // Connections stop reading; their calls in flight finish.
            open.closeInputs()
        }
        if case let .unix(path) = endpoint { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Makes the socket's directory if needed and requires it to be the owner's alone.
    static func prepareDirectory(of socket: String) throws {
        let directory = (socket as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard chmod(directory, 0o700) == 0 else {
            throw EngramError(.permissionDenied, "cannot make \(directory) private (0700): \(String(cString: strerror(errno)))")
        }
        guard socket.utf8.count < 108 else {
            throw EngramError.invalidArgument("the socket path \(socket) is \(socket.utf8.count) bytes; a Unix socket path must be shorter than 108 ([server] socket)")
        }
    }

    /// Answers a connection over the limit with one error line, then closes it.
    static func refuse(_ connection: NIOAsyncChannel<ConnectionInput, ByteBuffer>, limit: Int) async {
        try? await connection.executeThenClose { _, outbound in
            let error = EngramError(.resourceExhausted, "engramd has \(limit) connections open ([server] max_connections)")
            try await outbound.write(NDJSONProtocol.error("null", error))
        }
    }
}

/// A connection as it is set up: its channel, its calls in progress, and whether it is within
/// `max_connections` (else it gets one error line and is closed).
struct Accepted: Sendable {
    let channel: NIOAsyncChannel<ConnectionInput, ByteBuffer>
    let calls: Calls
    let admitted: Bool
}

/// The connections open now, so that shutdown can stop their reading.
final class OpenConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    /// Adds `channel` unless `limit` are open.
    func add(_ channel: any Channel, limit: Int) -> Bool {
        channels.withLock { open in
            guard open.count < limit else { return false }
            open[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func remove(_ channel: any Channel) { _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } }

    func closeInputs() {
        for channel in channels.withLock({ Array($0.values) }) { channel.close(mode: .input, promise: nil) }
    }
}

/// Closes a connection on which nothing was read or written for the idle timeout.
final class IdleCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
