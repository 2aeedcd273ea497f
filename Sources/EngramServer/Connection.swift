import Engram
import Foundation
import Logging
import NIOCore
import Synchronization

/// One client connection: reads request lines, runs each call as a task of its own (at most
/// `max_calls_per_connection` at once), writes the answers as they come (multiplexed by id),
/// and cancels a call on `Control/Cancel` or at its deadline. Short calls were answered
/// already on the event loop (`InlineCallHandler`); the rest come here.
struct Connection {
    let service: EngramService
    let settings: ServerSettings
    let logger: Logger
    let shuttingDown: OnceFlag
    /// The token every call but `Health/Check` must carry (TCP); nil: none (the Unix socket,
    /// whose directory only its owner may enter).
    let token: String?

    /// Serves `channel` until its client closes it; `calls` are the calls in progress on it.
    func serve(_ channel: NIOAsyncChannel<ConnectionInput, ByteBuffer>, calls: Calls) async {
        do {
            try await channel.executeThenClose { inbound, outbound in
                let slots = Slots(settings.maxCallsPerConnection)
                let writer = Writer(outbound: outbound)
                // Deeper documents are refused by the parser, with their depth (`NDJSONProtocol`).
                let parser = try NDJSONProtocol.parser(maxDepth: settings.maxDepth)
                for try await input in inbound {
                    await slots.take()
                    switch input {
                    case let .request(request):
                        start(request, calls: calls, slots: slots, writer: writer)
                    case let .frame(.oversized(bytes)):
                        await writer.send(NDJSONProtocol.error("null", EngramError(
                            .resourceExhausted,
                            "the request line is \(bytes) bytes; the limit is \(settings.maxFrameBytes) ([server] max_frame_bytes)")))
                        slots.give()
                    case let .frame(.line(buffer)):
                        let bytes = Array(buffer.readableBytesView)
                        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                            slots.give()
                            continue
                        }
                        start(bytes, parser: parser, calls: calls, slots: slots, writer: writer)
                    }
                }
                // The client closed its side (or shutdown closed it): finish what was asked.
                await calls.waitAll()
            }
        } catch {
            logger.debug("engramd: a connection ended: \(error)")
        }
    }

    /// Reads one request and runs it.
    private func start(_ bytes: [UInt8], parser: SimdJSONParser, calls: Calls, slots: Slots, writer: Writer) {
        do {
            start(try NDJSONProtocol.request(bytes, maxDepth: settings.maxDepth, parser: parser), calls: calls, slots: slots, writer: writer)
        } catch {
            Task {
                await writer.send(NDJSONProtocol.error(error.id, error.error))
                slots.give()
            }
        }
    }

    /// Runs `request` in a task registered under its id.
    private func start(_ request: NDJSONProtocol.Request, calls: Calls, slots: Slots, writer: Writer) {
        let id = request.id
        guard let method = RPCMethod(rawValue: request.method) else {
            Task {
                await writer.send(NDJSONProtocol.error(id, EngramError(.unimplemented, "unknown method \"\(request.method)\"")))
                slots.give()
            }
            return
        }
        if !AccessToken.admits(method, authorization: request.authorization, token: token) {
            Task {
                await writer.send(NDJSONProtocol.error(id, EngramError(
                    .unauthenticated, "\(method.rawValue) needs metadata.authorization \"Bearer TOKEN\", the token in the database's [server] token_file")))
                slots.give()
            }
            return
        }
        if method == .controlCancel {
            Task {
                if let target = try? EngramService.decode(CancelParams.self, request.params).id {
                    let found = calls.cancel(target.jsonText)
                    await writer.send(NDJSONProtocol.result(id, Data(#"{"cancelled":\#(found)}"#.utf8)))
                } else {
                    await writer.send(NDJSONProtocol.error(id, EngramError.invalidArgument("params.id: the id of the call to cancel is missing")))
                }
                slots.give()
            }
            return
        }
        let service = self.service, shuttingDown = self.shuttingDown
        let started = calls.start(id) {
            let clock = DispatchTime.now().uptimeNanoseconds
            CallMetrics.callStarted()
            let (answer, code) = await Self.run(service, method, request, id: id, writer: writer, shuttingDown: shuttingDown)
            await writer.send(answer)
            CallMetrics.callEnded()
            CallMetrics.record(method, code: code, started: clock)
            slots.give()
        }
        if !started {
            Task {
                await writer.send(NDJSONProtocol.error(id, EngramError(.alreadyExists, "a call with id \(id) is in progress on this connection")))
                slots.give()
            }
        }
    }

    /// Runs a call within its deadline: the answer to write at its end, and its status code
    /// (nil: OK).
    private static func run(_ service: EngramService, _ method: RPCMethod, _ request: NDJSONProtocol.Request, id: String,
                            writer: Writer, shuttingDown: OnceFlag) async -> (ByteBuffer, EngramError.Code?) {
        let failure: EngramError
        do {
            let result = try await withDeadline(request.deadlineMs) {
                try await service.call(method, params: request.params) { message in
                    if shuttingDown.isSet { throw EngramError(.unavailable, "engramd is shutting down") }
                    try Task.checkCancellation()
                    await writer.send(NDJSONProtocol.message(id, message))
                }
            }
            return (result.map { NDJSONProtocol.result(id, $0) } ?? NDJSONProtocol.ok(id), nil)
        } catch let error as EngramError {
            failure = error
        } catch is CancellationError {
            failure = EngramError(.cancelled, "the call was cancelled")
        } catch {
            failure = EngramError(.internal, "\(error)")
        }
        return (NDJSONProtocol.error(id, failure), failure.code)
    }

    /// `body`, or `deadlineExceeded` when it has not finished within `milliseconds`.
    static func withDeadline<T: Sendable>(_ milliseconds: Double?, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let milliseconds else { return try await body() }
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(milliseconds))
                throw EngramError(.deadlineExceeded, "the call did not finish within its deadline of \(milliseconds) ms")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}

extension EngramError.Reason {
    /// A request line that is not valid JSON.
    public static let malformedRequest = EngramError.Reason("MALFORMED_REQUEST")
}

/// The calls in progress on a connection, by id (as JSON text).
final class Calls: Sendable {
    private let tasks = Mutex<[String: Task<Void, Never>]>([:])

    /// Runs `body` as a task registered under `id` until it ends; false (and nothing run)
    /// when a call with that id is in progress already.
    func start(_ id: String, _ body: @escaping @Sendable () async -> Void) -> Bool {
        tasks.withLock { tasks in
            guard tasks[id] == nil else { return false }
            tasks[id] = Task {
                await body()
                self.finished(id)
            }
            return true
        }
    }

    /// Whether a call `id` is in progress.
    func isRunning(_ id: String) -> Bool { tasks.withLock { $0[id] != nil } }

    private func finished(_ id: String) { _ = tasks.withLock { $0.removeValue(forKey: id) } }

    /// Cancels the call `id`; whether there was one.
    func cancel(_ id: String) -> Bool {
        guard let task = tasks.withLock({ $0[id] }) else { return false }
        task.cancel()
        return true
    }

    func waitAll() async {
        while let next = tasks.withLock({ $0.values.first }) { await next.value }
    }
}

/// Counts the calls a connection may still start; `take` waits while none is left. A lock,
/// not an actor: taking a free slot costs no hop to another executor.
final class Slots: Sendable {
    private struct State {
        var free: Int
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(free: count)) }

    func take() async {
        let took = state.withLock { state in
            guard state.free > 0 else { return false }
            state.free -= 1
            return true
        }
        if took { return }
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                guard state.free > 0 else {
                    state.waiting.append(continuation)
                    return false
                }
                state.free -= 1
                return true
            }
            if now { continuation.resume() }
        }
    }

    func give() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.free += 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}

/// Writes whole answer lines to a connection; calls write concurrently (NIO's writer orders
/// them), each line whole.
struct Writer: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    /// Writes the answer line `buffer`; a connection closed meanwhile drops it. A cancelled
    /// call still gets its `CANCELLED` answer: NIO refuses writes from a cancelled task, so
    /// that one is written from a task of its own.
    func send(_ buffer: ByteBuffer) async {
        if !Task.isCancelled {
            do {
                try await outbound.write(buffer)
                return
            } catch is CancellationError {
                // Cancelled while waiting for the client to read: written below.
            } catch {
                return
            }
        }
        let outbound = self.outbound
        await Task { try? await outbound.write(buffer) }.value
    }
}
