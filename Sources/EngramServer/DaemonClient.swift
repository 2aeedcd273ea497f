import Engram
import Foundation
import NIOCore
import NIOPosix

/// A client of engramd's socket (the `engram` command uses it when a daemon holds the
/// database): one connection, one call at a time.
public struct DaemonClient: Sendable {
    /// The socket of the daemon serving the database in `directory`, when one answers there
    /// (a socket file left by a daemon that was killed does not count).
    public static func socket(for directory: URL, settings: ServerSettings = ServerSettings()) -> String? {
        let path = settings.socketPath(for: directory)
        guard FileManager.default.fileExists(atPath: path), let fd = try? UnixSocket.connect(path: path) else { return nil }
        close(fd)
        return path
    }

    /// Calls `method` with `params` on the daemon at `socket` and decodes its result; a
    /// streaming method's messages go to `onMessage`, and its result is nil.
    ///
    /// - Throws: the `EngramError` the daemon answered (its code and message), or
    ///   `.unavailable` when the connection fails or ends early.
    public static func call<Result: Decodable & Sendable>(socket: String, _ method: RPCMethod, _ params: some Encodable,
                                               as type: Result.Type,
                                               onMessage: (Data) throws -> Void = { _ in }) async throws -> Result? {
        let channel: NIOAsyncChannel<NDJSONFrame, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: socket) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(NDJSONFrameDecoder(maxFrameBytes: Self.maxAnswerBytes)))
                        return try NIOAsyncChannel<NDJSONFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw EngramError(.unavailable, "cannot reach engramd at \(socket): \(error)")
        }
        let request = "{\"id\":1,\"method\":\"\(method.rawValue)\",\"params\":" + String(decoding: try JSONTextEncoder().encode(params), as: UTF8.self) + "}\n"
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            // The server writes `{"id":1,"result":` or `{"id":1,"message":` first: the JSON after
            // it is taken as it is (numbers exactly as written).
            let resultPrefix = Array(#"{"id":1,"result":"#.utf8), messagePrefix = Array(#"{"id":1,"message":"#.utf8)
            for try await frame in inbound {
                guard case let .line(buffer) = frame else { throw EngramError(.resourceExhausted, "an answer of engramd is too long") }
                let line = Array(buffer.readableBytesView)
                if line.starts(with: resultPrefix), line.last == 0x7D {
                    return try JSONDecoder().decode(Result.self, from: Data(line[resultPrefix.count..<(line.count - 1)]))
                }
                if line.starts(with: messagePrefix), line.last == 0x7D {
                    try onMessage(Data(line[messagePrefix.count..<(line.count - 1)]))
                    continue
                }
                let answer = try JSONDecoder().decode(Answer.self, from: Data(line))
                if let error = answer.error {
                    throw EngramError(EngramError.Code(rawValue: error.code) ?? .internal, error.message)
                }
                if answer.status != nil { return nil }
            }
            throw EngramError(.unavailable, "engramd closed the connection before answering")
        }
    }

    /// The longest answer line read (an export record with its vector, a large query).
    static let maxAnswerBytes = 1 << 30

    private struct Answer: Decodable {
        var status: JSONValue?
        var error: ErrorBody?
    }

    private struct ErrorBody: Decodable {
        var code: String
        var message: String
    }
}
