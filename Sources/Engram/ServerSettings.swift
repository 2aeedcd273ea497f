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
/// idle_timeout = "10m"         # a connection with no traffic for this long is closed
/// ```
public struct ServerSettings: Sendable, Equatable {
    public var socket = ""
    public var maxFrameBytes = 16 << 20
    public var maxDepth = 64
    public var maxCallsPerConnection = 64
    public var maxConnections = 1024
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
        idleTimeout = try s.duration("idle_timeout", default: idleTimeout)
        try s.rejectUnknownKeys()
        func bad(_ message: String) -> EngramError {
            EngramError(.invalidArgument, "engram.toml: [server] \(message)", reason: .invalidSettings)
        }
        guard (1024...(1 << 30)).contains(maxFrameBytes) else { throw bad("max_frame_bytes must be between 1024 and 1073741824") }
        guard (2...10_000).contains(maxDepth) else { throw bad("max_depth must be between 2 and 10000") }
        guard (1...10_000).contains(maxCallsPerConnection) else { throw bad("max_calls_per_connection must be between 1 and 10000") }
        guard (1...1_000_000).contains(maxConnections) else { throw bad("max_connections must be between 1 and 1000000") }
        guard idleTimeout.isFinite, idleTimeout >= 1 else { throw bad("idle_timeout must be at least 1s") }
    }

    /// The socket's path for the database in `directory`.
    public func socketPath(for directory: URL) -> String {
        if socket.isEmpty { return directory.appendingPathComponent("run/engramd.sock").path }
        return socket.hasPrefix("/") ? socket : directory.appendingPathComponent(socket).path
    }
}
