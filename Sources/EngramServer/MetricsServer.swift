import Engram
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// `GET /metrics` (Prometheus text, from `exposition`) and `GET /healthz` on a loopback HTTP
/// port, as a service of swift-service-lifecycle.
///
/// `/healthz` answers 200 `SERVING` while the service runs and 503 `SHUTTING_DOWN` once
/// graceful shutdown has begun. Other paths are 404, other methods 405.
public struct MetricsServer: Service {
    let address: TCPAddress
    let exposition: @Sendable () -> String
    let logger: Logger

    /// - Throws: `EngramError` `.failedPrecondition` for an address other machines could reach.
    public init(address: TCPAddress, logger: Logger, exposition: @escaping @Sendable () -> String) throws {
        guard address.isLoopback else {
            throw EngramError(.failedPrecondition, "[server] metrics = \"\(address)\" must be a loopback address (127.0.0.1, ::1, localhost)")
        }
        self.address = address
        self.exposition = exposition
        self.logger = logger
    }

    public func run() async throws {
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw EngramError(.unavailable, "cannot listen on \(address) ([server] metrics): \(error)")
        }
        logger.notice("engramd: serving /metrics and /healthz on http://\(address)")
        let stopping = OnceFlag()
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection, stopping: stopping) }
                    }
                }
            }
        } onGracefulShutdown: {
            stopping.set()
            server.channel.close(promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, stopping: OnceFlag) async {
        try? await connection.executeThenClose { inbound, outbound in
            for try await part in inbound {
                guard case let .head(request) = part else { continue }
                let (status, body, type) = answer(request, stopping: stopping)
                var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", String(body.utf8.count))])
                if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
                try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body))))
                try await outbound.write(.end(nil))
                if !request.isKeepAlive { return }
            }
        }
    }

    private func answer(_ request: HTTPRequestHead, stopping: OnceFlag) -> (HTTPResponseStatus, String, String) {
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        guard path == "/metrics" || path == "/healthz" else { return (.notFound, "not found: try /metrics or /healthz\n", "text/plain") }
        guard request.method == .GET else { return (.methodNotAllowed, "GET only\n", "text/plain") }
        if path == "/healthz" {
            return stopping.isSet ? (.serviceUnavailable, "SHUTTING_DOWN\n", "text/plain") : (.ok, "SERVING\n", "text/plain")
        }
        return (.ok, exposition(), "text/plain; version=0.0.4")
    }
}
