import Engram
import Foundation
import NIOCore
import Synchronization

/// What a connection's reader (`Connection`) is handed: a frame as it was read, or a request
/// line already read by `InlineCallHandler` (not to be parsed twice).
enum ConnectionInput: Sendable {
    case frame(NDJSONFrame)
    case request(NDJSONProtocol.Request)
}

/// Answers a connection's short calls on its event loop: a Health check and a Get as they are
/// read (`EngramService.callInline`), a Query by vector for at most `[server] inline_max_k`
/// memories with the other Queries the loop read in the same turn (`QueryBatch`). Such a
/// Query costs ~0.2 ms of CPU, and the hops to a task and back about half of that again
/// (under the socket benchmark's load on 2 cores, the daemon's CPU per Query fell from ~0.42
/// to ~0.31 ms when they went).
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
    private let queries: QueryBatch
    private var unflushed = false

    init(service: EngramService, settings: ServerSettings, token: String?, calls: Calls, answers: Bool,
         queries: QueryBatch) throws {
        self.service = service
        self.queries = queries
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
        guard answers, context.channel.isWritable, admitted(request) else {
            context.fireChannelRead(wrapInboundOut(.request(request)))
            return
        }
        if request.method == RPCMethod.memoryQuery.rawValue {
            // Queries wait for the turn's other lines, to be answered together.
            let query: QueryRequest?
            do {
                query = try service.inlineQuery(request.params, maxK: settings.inlineMaxK)
            } catch {
                reply(context, request.id, method: .memoryQuery, .failure(error), started: DispatchTime.now().uptimeNanoseconds)
                return
            }
            guard let query else {
                context.fireChannelRead(wrapInboundOut(.request(request)))
                return
            }
            queries.add(query, id: request.id, context: context)
            return
        }
        guard let answer = answer(request) else {
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

    /// Whether `request` may be answered here: no deadline, a method its token admits, an id
    /// not in use by a call in progress.
    private func admitted(_ request: NDJSONProtocol.Request) -> Bool {
        guard request.deadlineMs == nil, let method = RPCMethod(rawValue: request.method) else { return false }
        return AccessToken.admits(method, authorization: request.authorization, token: token) && !calls.isRunning(request.id)
    }

    /// The answer line to `request` (an admitted call other than a Query), or nil when it is
    /// not a call to answer here.
    private func answer(_ request: NDJSONProtocol.Request) -> ByteBuffer? {
        guard let method = RPCMethod(rawValue: request.method) else { return nil }
        let started = DispatchTime.now().uptimeNanoseconds
        let result: Result<Data, any Error>
        do {
            guard let data = try service.callInline(method, params: request.params, maxK: settings.inlineMaxK) else { return nil }
            result = .success(data)
        } catch {
            result = .failure(error)
        }
        return Self.line(request.id, method: method, result, started: started)
    }

    /// Writes and flushes the answer to the call `id` now.
    private func reply(_ context: ChannelHandlerContext, _ id: String, method: RPCMethod, _ result: Result<Data, any Error>,
                       started: UInt64) {
        context.writeAndFlush(wrapOutboundOut(Self.line(id, method: method, result, started: started)), promise: nil)
    }

    /// The answer line of the call `id` with `result`, its outcome counted in the metrics.
    static func line(_ id: String, method: RPCMethod, _ result: Result<Data, any Error>, started: UInt64) -> ByteBuffer {
        let answer: ByteBuffer, code: EngramError.Code?
        switch result {
        case let .success(data):
            (answer, code) = (NDJSONProtocol.result(id, data), nil)
        case let .failure(error):
            let failure = error as? EngramError ?? EngramError(.internal, "\(error)")
            (answer, code) = (NDJSONProtocol.error(id, failure), failure.code)
        }
        CallMetrics.record(method, code: code, started: started)
        return answer
    }
}

/// The inline Query calls read on one event loop during one turn of it (the lines all its
/// ready sockets held), answered together once the turn's reads are done: the store finds
/// their IVF probes in fewer passes over the centroids (`MemoryStore.query(batch:)`), the
/// larger part of what batching saves when the loop has several connections' calls to answer.
/// One per event loop, used only on it (`QueryBatches`).
final class QueryBatch {
    /// At most this many queries are searched together; the answers of each group are written
    /// as it is done, so a call waits for at most this many searches.
    static let maxQueries = 8

    private struct Call {
        let request: QueryRequest
        let id: String
        let context: ChannelHandlerContext
        let started: UInt64
    }

    private let service: EngramService
    private let eventLoop: any EventLoop
    private var pending: [Call] = []

    init(service: EngramService, eventLoop: any EventLoop) {
        self.service = service
        self.eventLoop = eventLoop
    }

    /// Queues a call; the first of a turn schedules the answers after the turn's reads (NIO
    /// runs tasks once it has handled the sockets that were ready).
    func add(_ request: QueryRequest, id: String, context: ChannelHandlerContext) {
        pending.append(Call(request: request, id: id, context: context, started: DispatchTime.now().uptimeNanoseconds))
        if pending.count == 1 {
            let batch = NIOLoopBound(self, eventLoop: eventLoop)
            eventLoop.execute { batch.value.answer() }
        }
    }

    private func answer() {
        let calls = pending
        pending = []
        for start in stride(from: 0, to: calls.count, by: Self.maxQueries) {
            let group = calls[start..<min(start + Self.maxQueries, calls.count)]
            for (call, result) in zip(group, service.queryInline(batch: group.map(\.request))) {
                call.context.writeAndFlush(NIOAny(InlineCallHandler.line(call.id, method: .memoryQuery, result, started: call.started)),
                                           promise: nil)
            }
        }
    }
}

/// Each event loop's `QueryBatch`, made as its first connection is set up.
final class QueryBatches: Sendable {
    private let service: EngramService
    private let batches = Mutex<[ObjectIdentifier: NIOLoopBound<QueryBatch>]>([:])

    init(service: EngramService) { self.service = service }

    /// The batch of `eventLoop`; called on it.
    func batch(on eventLoop: any EventLoop) -> QueryBatch {
        batches.withLock { batches in
            let key = ObjectIdentifier(eventLoop)
            if let batch = batches[key] { return batch.value }
            let batch = NIOLoopBound(QueryBatch(service: service, eventLoop: eventLoop), eventLoop: eventLoop)
            batches[key] = batch
            return batch.value
        }
    }
}
