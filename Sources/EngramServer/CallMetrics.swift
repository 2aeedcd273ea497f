import CoreMetrics
import Dispatch
import Engram

/// What the server counts, through swift-metrics (whatever backend the host bootstrapped;
/// `engramd` exports them as Prometheus text on `[server] metrics`):
/// `engram_requests_total{method,code}`, `engram_request_duration_seconds{method}` (a
/// histogram), `engram_connections_open` and `engram_calls_in_flight`.
enum CallMetrics {
    /// Counts a call of `method` that ended with `code` (nil: OK) after starting at `started`
    /// (`DispatchTime` nanoseconds).
    static func record(_ method: RPCMethod, code: EngramError.Code?, started: UInt64) {
        Counter(label: "engram_requests_total", dimensions: [("method", method.rawValue), ("code", code?.rawValue ?? "OK")]).increment()
        Timer(label: "engram_request_duration_seconds", dimensions: [("method", method.rawValue)])
            .recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
    }

    static func connectionOpened() { Meter(label: "engram_connections_open").increment() }
    static func connectionClosed() { Meter(label: "engram_connections_open").decrement() }
    static func callStarted() { Meter(label: "engram_calls_in_flight").increment() }
    static func callEnded() { Meter(label: "engram_calls_in_flight").decrement() }
}
