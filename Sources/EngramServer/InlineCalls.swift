import Engram
import Foundation
import NIOCore

/// What a connection's reader (`Connection`) is handed: a frame as it was read, or a request
/// line already read by `InlineCallHandler` (not to be parsed twice).
enum ConnectionInput: Sendable {
    case frame(NDJSONFrame)
    case request(NDJSONProtocol.Request)
}

/// Answers a connection's short calls on its event loop as they are read, with
/// `EngramService.callInline` (a Health check, a Get, a Query by vector for at most `[server]
/// inline_max_k` memories): such a Query costs ~0.2 ms of CPU, and the hops to a task and
/// back about half of that again (under the socket benchmark's load on 2 cores, the daemon's
/// CPU per Query fell from ~0.42 to ~0.31 ms when they went).
///
/// Everything else goes on to `Connection`, which runs it as a task: other methods, a call
/// with a deadline, a call under the id of one in progress, a call its token does not admit,
/// lines it cannot read (`Connection` reads them again and answers the error), lines longer
/// than `maxLineBytes` (read once, by `Connection`, off the event loop), and every line while
/// the connection cannot be written (a client that does not read its answers meets the
/// tasks' back-pressure, so memory stays bounded).
final class InlineCallHandler: ChannelInboundHandler {
    typealias InboundIn = NDJSONFrame
    typealias InboundOut = ConnectionInput
    typealias OutboundOut = ByteBuffer

    /// The longest line read on the event loop: a Query by a vector of a few thousand
    /// dimensions fits; a batch of upserts is read by its task.
    static let maxLineBytes = 64 << 10

    private let service: EngramService
    private let settings: ServerSettings
    private let token: String?
    private let calls: Calls
    /// Whether calls are answered here (false: a connection over the limit, which is refused,
    /// or `inline_max_k = 0`): lines are still read here, and handed on.
    private let answers: Bool
    private let parser: SimdJSONParser
    private var unflushed = false

    init(service: EngramService, settings: ServerSettings, token: String?, calls: Calls, answers: Bool) throws {
        self.service = service
        self.settings = settings
        self.token = token
        self.calls = calls
        self.answers = answers && settings.inlineMaxK > 0
        parser = try NDJSONProtocol.parser(maxDepth: settings.maxDepth)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard case let .line(line) = frame, line.readableBytes <= Self.maxLineBytes,
              let request = try? NDJSONProtocol.request(Array(line.readableBytesView), maxDepth: settings.maxDepth, parser: parser) else {
            context.fireChannelRead(wrapInboundOut(.frame(frame)))
            return
        }
        guard answers, context.channel.isWritable, let answer = answer(request) else {
            context.fireChannelRead(wrapInboundOut(.request(request)))
            return
        }
        context.write(wrapOutboundOut(answer), promise: nil)
        unflushed = true
    }

    /// Answers are flushed once per read from the socket, however many lines it held.
    func channelReadComplete(context: ChannelHandlerContext) {
        if unflushed {
            unflushed = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// The answer line to `request`, or nil when it is not a call to answer here.
    private func answer(_ request: NDJSONProtocol.Request) -> ByteBuffer? {
        guard request.deadlineMs == nil, let method = RPCMethod(rawValue: request.method),
              AccessToken.admits(method, authorization: request.authorization, token: token),
              !calls.isRunning(request.id) else { return nil }
        let started = DispatchTime.now().uptimeNanoseconds
        let answer: ByteBuffer, code: EngramError.Code?
        do {
            guard let result = try service.callInline(method, params: request.params, maxK: settings.inlineMaxK) else { return nil }
            (answer, code) = (NDJSONProtocol.result(request.id, result), nil)
        } catch {
            let failure = error as? EngramError ?? EngramError(.internal, "\(error)")
            (answer, code) = (NDJSONProtocol.error(request.id, failure), failure.code)
        }
        CallMetrics.record(method, code: code, started: started)
        return answer
    }
}
