import Engram
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Serves `EngramService` as NDJSON on a Unix socket (SwiftNIO), as a service of
/// swift-service-lifecycle.
///
/// The socket is made in a directory only its owner may enter (0700) and is itself 0600.
/// Requests on one connection run concurrently, up to `max_calls_per_connection`; beyond
/// that the socket is not read (back-pressure reaches the client), and a client that never
/// reads its answers stops being read too, so memory stays bounded. Graceful shutdown stops
/// accepting and reading, lets unary calls in flight finish, and ends streams with
/// `UNAVAILABLE`.
public struct SocketServer: Service {
    let service: EngramService
    let settings: ServerSettings
    public let path: String
    let logger: Logger

    public init(service: EngramService, settings: ServerSettings, path: String, logger: Logger) {
        self.service = service
        self.settings = settings
        self.path = path
        self.logger = logger
    }

    public func run() async throws {
        try Self.prepareDirectory(of: path)
        let maxFrame = settings.maxFrameBytes, idle = settings.idleTimeout
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            // A client that shuts down its sending side after its requests (socat, nc -N)
            // still gets its answers.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(allTimeout: .milliseconds(Int64(idle * 1000))))
                    try sync.addHandler(IdleCloser())
                    try sync.addHandler(ByteToMessageHandler(NDJSONFrameDecoder(maxFrameBytes: maxFrame)))
                    return try NIOAsyncChannel<NDJSONFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        guard chmod(path, 0o600) == 0 else {
            try? await server.channel.close()
            throw EngramError(.permissionDenied, "cannot make \(path) private: \(String(cString: strerror(errno)))")
        }
        logger.notice("engramd: serving the socket API on \(path)")
        let open = OpenConnections()
        let shuttingDown = OnceFlag()
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        guard open.add(connection.channel, limit: settings.maxConnections) else {
                            group.addTask { await Self.refuse(connection, limit: settings.maxConnections) }
                            continue
                        }
                        group.addTask {
                            defer { open.remove(connection.channel) }
                            await Connection(service: service, settings: settings, logger: logger, shuttingDown: shuttingDown).serve(connection)
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
        try? FileManager.default.removeItem(atPath: path)
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
    static func refuse(_ connection: NIOAsyncChannel<NDJSONFrame, ByteBuffer>, limit: Int) async {
        try? await connection.executeThenClose { _, outbound in
            let error = EngramError(.resourceExhausted, "engramd has \(limit) connections open ([server] max_connections)")
            try await outbound.write(ByteBuffer(bytes: NDJSONProtocol.error("null", error)))
        }
    }
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
