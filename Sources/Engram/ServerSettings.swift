import Foundation

/// The `[server]` section of `engram.toml`: where and how `engramd` serves the socket API.
/// Every limit has a name here and a default.
///
/// ```toml
/// [server]
/// socket = ""                  # the Unix socket ("": run/engramd.sock in the database directory)
/// max_frame_bytes = 16777216   # longest request line (16 MiB); a longer one is RESOURCE_EXHAUSTED
/// max_depth = 64               # deepest JSON nesting of a request
/// max_calls_per_connection = 64  # calls in progress on one connection; more wait (the socket is not read)
/// max_connections = 1024       # open connections; more are refused
/// inline_max_k = 100           # a Health check, a Get and a Query by vector for up to this many memories are answered on the thread that read them (0: every call runs as a task)
/// idle_timeout = "10m"         # a connection with no traffic for this long is closed
/// tcp = ""                     # also serve on TCP, "HOST:PORT" (off when empty), a bearer token required
/// token_file = "engramd.token" # the token TCP clients send ("Bearer …"), made 0600 on first start
/// tls_certificate = ""         # PEM certificate chain: TCP with TLS when set (with tls_key)
/// tls_key = ""                 # PEM private key of the certificate
/// allow_insecure_tcp = false   # serve a non-loopback address without TLS
/// grpc = ""                    # the same methods over gRPC (JSON messages): "HOST:PORT" (token, TLS as tcp) or "unix:PATH"; off when empty
/// metrics = ""                 # GET /metrics (Prometheus) and /healthz on this loopback HOST:PORT (off when empty)
/// ```
public struct ServerSettings: Sendable, Equatable {
    public var socket = ""
    /// `HOST:PORT` of the TCP listener; empty: none.
    public var tcp = ""
    public var tokenFile = "engramd.token"
    public var tlsCertificate = ""
    public var tlsKey = ""
    public var allowInsecureTCP = false
    /// The gRPC listener: `HOST:PORT` or `unix:PATH`; empty: none.
    public var grpc = ""
    /// `HOST:PORT` (loopback) of the HTTP listener of `/metrics` and `/healthz`; empty: none.
    public var metrics = ""
    public var maxFrameBytes = 16 << 20
    public var maxDepth = 64
    public var maxCallsPerConnection = 64
    public var maxConnections = 1024
    /// The largest `k` of a Query by vector answered on the connection's event loop, as a
    /// Health check or a Get: no hop to another thread, a fraction of such a call's cost.
    /// 0: every call runs as a task of its own.
    public var inlineMaxK = 100
    /// Seconds.
    public var idleTimeout: Double = 600

    public static let section = "server"

    public init() {}

    /// Reads `[server]` of `document` (absent keys keep their defaults).
    /// - Throws: `EngramError` `.invalidArgument` (`invalidSettings`) for an unknown key, a
    ///   wrong type or a value out of range.
    public init(_ document: SettingsDocument) throws {
        var s = try document.section(Self.section)
        socket = try s.string("socket", default: socket)
        maxFrameBytes = try s.integer("max_frame_bytes", default: maxFrameBytes)
        maxDepth = try s.integer("max_depth", default: maxDepth)
        maxCallsPerConnection = try s.integer("max_calls_per_connection", default: maxCallsPerConnection)
        maxConnections = try s.integer("max_connections", default: maxConnections)
        inlineMaxK = try s.integer("inline_max_k", default: inlineMaxK)
        idleTimeout = try s.duration("idle_timeout", default: idleTimeout)
        tcp = try s.string("tcp", default: tcp)
        tokenFile = try s.string("token_file", default: tokenFile)
        tlsCertificate = try s.string("tls_certificate", default: tlsCertificate)
        tlsKey = try s.string("tls_key", default: tlsKey)
        allowInsecureTCP = try s.boolean("allow_insecure_tcp", default: allowInsecureTCP)
        metrics = try s.string("metrics", default: metrics)
        grpc = try s.string("grpc", default: grpc)
        try s.rejectUnknownKeys()
        func bad(_ message: String) -> EngramError {
            EngramError(.invalidArgument, "engram.toml: [server] \(message)", reason: .invalidSettings)
        }
        guard (1024...(1 << 30)).contains(maxFrameBytes) else { throw bad("max_frame_bytes must be between 1024 and 1073741824") }
        guard (2...10_000).contains(maxDepth) else { throw bad("max_depth must be between 2 and 10000") }
        guard (1...10_000).contains(maxCallsPerConnection) else { throw bad("max_calls_per_connection must be between 1 and 10000") }
        guard (1...1_000_000).contains(maxConnections) else { throw bad("max_connections must be between 1 and 1000000") }
        guard (0...QueryRequest.maxK).contains(inlineMaxK) else { throw bad("inline_max_k must be between 0 and \(QueryRequest.maxK)") }
        guard idleTimeout.isFinite, idleTimeout >= 1 else { throw bad("idle_timeout must be at least 1s") }
        guard tlsCertificate.isEmpty == tlsKey.isEmpty else { throw bad("tls_certificate and tls_key go together") }
        if !tcp.isEmpty { _ = try TCPAddress(parsing: tcp, setting: "tcp") }
        if !grpc.isEmpty && !grpc.hasPrefix("unix:") { _ = try TCPAddress(parsing: grpc, setting: "grpc") }
        if !metrics.isEmpty {
            guard try TCPAddress(parsing: metrics, setting: "metrics").isLoopback else { throw bad("metrics must be a loopback address (127.0.0.1:9464)") }
        }
        guard !tokenFile.isEmpty else { throw bad("token_file must name a file") }
    }

    /// A path of these settings: absolute, or in the database `directory`.
    public func path(_ setting: String, in directory: URL) -> String {
        setting.hasPrefix("/") ? setting : directory.appendingPathComponent(setting).path
    }

    /// The socket's path for the database in `directory`.
    public func socketPath(for directory: URL) -> String {
        path(socket.isEmpty ? "run/engramd.sock" : socket, in: directory)
    }
}

/// A TCP listening address, `HOST:PORT` (`[v6]:PORT` for an IPv6 literal).
public struct TCPAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// - Throws: `EngramError` `.invalidArgument` (`invalidSettings`) naming the setting.
    public init(parsing text: String, setting: String = "tcp") throws {
        func bad() -> EngramError {
            EngramError(.invalidArgument, "engram.toml: [server] \(setting) must be HOST:PORT with a port from 0 to 65535 (127.0.0.1:7878, [::1]:7878), not '\(text)'",
                        reason: .invalidSettings)
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else { throw bad() }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw bad() }
        self.host = host
        self.port = port
    }

    /// Whether only this machine can reach the address (127.0.0.0/8, ::1, localhost).
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
