import CoreMetrics
import Dispatch
import Engram

/// What the server counts, through swift-metrics (whatever backend the host bootstrapped;
/// `engramd` exports them as Prometheus text on `[server] metrics`):
/// `engram_requests_total{method,code}`, `engram_request_duration_seconds{method}` (a
/// histogram), `engram_connections_open` and `engram_calls_in_flight`.
///
/// The handles are made once, at the first call (after the host's bootstrap), and kept: a
/// handle made per call costs a lookup in the backend's registry under its lock. An error's
/// counter is made when it happens (errors are rare; their codes many).
enum CallMetrics {
    private struct PerMethod: Sendable {
        let ok: Counter
        let duration: Timer

        init(_ method: RPCMethod) {
            ok = Counter(label: requests, dimensions: [("method", method.rawValue), ("code", "OK")])
            duration = Timer(label: "engram_request_duration_seconds", dimensions: [("method", method.rawValue)])
        }
    }

    private static let requests = "engram_requests_total"
    private static let perMethod = Dictionary(uniqueKeysWithValues: RPCMethod.allCases.map { ($0, PerMethod($0)) })
    private static let connections = Meter(label: "engram_connections_open")
    private static let callsInFlight = Meter(label: "engram_calls_in_flight")

    /// Counts a call of `method` that ended with `code` (nil: OK) after starting at `started`
    /// (`DispatchTime` nanoseconds).
    static func record(_ method: RPCMethod, code: EngramError.Code?, started: UInt64) {
        let handles = perMethod[method]!
        if let code {
            Counter(label: requests, dimensions: [("method", method.rawValue), ("code", code.rawValue)]).increment()
        } else {
            handles.ok.increment()
        }
        handles.duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
    }

    static func connectionOpened() { connections.increment() }
    static func connectionClosed() { connections.decrement() }
    static func callStarted() { callsInFlight.increment() }
    static func callEnded() { callsInFlight.decrement() }
}
