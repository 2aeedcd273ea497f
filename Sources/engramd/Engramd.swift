import ArgumentParser
import Engram
import Foundation
import EngramServer
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `engramd`: keeps a database open and applies the change logs it watches as they grow.
///
/// Composed with swift-service-lifecycle: the database is opened first, then the watcher
/// runs as a service; SIGTERM and SIGINT end it gracefully (the batch being applied
/// finishes, nothing after it starts), and the database is closed last.
@main
struct Engramd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engramd",
        abstract: "The Engram daemon: serves a database on a socket and follows change logs into it.",
        discussion: """
            Holds the database open for writing and follows each --watch path (a file, or a \
            directory whose files are read in name order, new ones included) for complete new \
            lines, applying them exactly once as `engram watch` does. It looks again as soon as \
            a watched directory changes (inotify), and every --poll-ms anyway. A log rotated by \
            renaming is read to its end before the new file at its name. SIGTERM or SIGINT \
            finish the batch in progress and exit 0. `engram ingest status` (read-only) shows \
            progress meanwhile.

            It serves the socket API (NDJSON on a Unix socket: one JSON request per line, \
            {"id","method","params"}, methods such as engram.v1.Memory/Query, listed in \
            Data/api/engram.v1.json) on --socket, by default run/engramd.sock in the database \
            directory ([server] socket), in a directory only its owner may enter. SIGHUP (or \
            engram.v1.Admin/ReloadModel) loads the model file again beside the one serving and \
            swaps them once it is loaded; a file that fails to load leaves the old model serving.

            With [server] tcp = "HOST:PORT" it also serves the API on TCP, where every method \
            but engram.v1.Health/Check needs "metadata": {"authorization": "Bearer TOKEN"}, the \
            token in [server] token_file (engramd.token in the database directory, made 0600 on \
            first start). A non-loopback address needs TLS (tls_certificate, tls_key) unless \
            allow_insecure_tcp = true. With [server] grpc = "HOST:PORT" (or "unix:PATH") it \
            serves the same methods over gRPC (HTTP/2), each message a JSON document, with the \
            same token and TLS rules on TCP. With [server] metrics = "127.0.0.1:PORT" it serves GET \
            /metrics (Prometheus text: requests by method and code, their durations, open \
            connections, calls in flight, memories) and GET /healthz (200 SERVING, 503 while \
            shutting down).
            """)

    @Option(name: .long, help: ArgumentHelp("Database directory (default: $ENGRAM_DB, else ./engram.db).", valueName: "dir"))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("A change-log file or directory to follow (repeatable).", valueName: "path"))
    var watch: [String] = []

    @Option(help: ArgumentHelp("The Unix socket of the API (default: [server] socket, else run/engramd.sock in the database directory).", valueName: "path"))
    var socket: String?

    @Flag(name: .customLong("no-socket"), help: "Serve no socket: only follow the --watch logs.")
    var noSocket = false

    @Option(help: ArgumentHelp("The GGUF model RAG/Ask answers with, loaded at the first question (default: as `engram ask` finds it).", valueName: "file"))
    var model: String?

    @Option(help: "The format of every log (default: [ingest] format, else detected per file).")
    var format: LogFormat?

    @Option(name: .customLong("poll-ms"), help: "Milliseconds between looks at the logs when nothing is new and no change was signalled (10…60000).")
    var pollMilliseconds = 200

    @Flag(help: "Log each batch applied (info level) to stderr.")
    var verbose = false

    @Flag(name: .customLong("api-schema"), help: "Print the socket API's schema (methods, their parameters and answers, as JSON) and exit.")
    var apiSchema = false

    func validate() throws {
        if apiSchema { return }
        if watch.isEmpty && noSocket { throw ValidationError("with --no-socket, give at least one --watch path") }
        if socket != nil && noSocket { throw ValidationError("--socket and --no-socket exclude each other") }
        guard (10...60_000).contains(pollMilliseconds) else { throw ValidationError("--poll-ms must be between 10 and 60000") }
    }

    func run() async throws {
        if apiSchema {
            print(APISchema.document())
            return
        }
        BLASCore.correctIfNeeded()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return handler
        }
        var logger = Logger(label: "engramd")
        logger.logLevel = verbose ? .info : .notice
        let database = try EngramDatabase.open(at: EngramDatabase.location(db), logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if !watch.isEmpty {
            let signal = ChangeSignal.make(directories: EngramDatabase.directories(of: watch))
            if signal == nil { logger.notice("engramd: no inotify here: looking at the logs every \(pollMilliseconds) ms") }
            let watcher = LogWatcher(database: database, request: WatchRequest(paths: watch, format: format, follow: true),
                                     poll: .milliseconds(pollMilliseconds), signal: signal, logger: logger)
            services.append(.init(service: watcher))
            logger.notice("engramd: following \(watch.joined(separator: ", ")) into \(database.directory.path)")
        }
        let shutdown = ShutdownTrigger()
        if !noSocket {
            let path = socket.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath).standardizedFileURL.path }
                ?? database.serverSettings.socketPath(for: database.directory)
            let models = Models(path: model)
            let service = EngramService(database: database, models: models) { shutdown.fire() }
            services.append(.init(service: SocketServer(service: service, settings: database.serverSettings, endpoint: .unix(path: path), logger: logger)))
            if let tcp = try SocketServer.tcpEndpoint(database.serverSettings, directory: database.directory) {
                services.append(.init(service: SocketServer(service: service, settings: database.serverSettings, endpoint: tcp, logger: logger)))
            }
            if let grpc = try GRPCListener.address(database.serverSettings, directory: database.directory) {
                services.append(.init(service: GRPCListener(service: service, settings: database.serverSettings, address: grpc, logger: logger)))
            }
            services.append(.init(service: ModelReloader(models: models, logger: logger)))
            if !database.serverSettings.metrics.isEmpty {
                services.append(.init(service: try MetricsServer(address: TCPAddress(parsing: database.serverSettings.metrics, setting: "metrics"),
                                                                 logger: logger, exposition: prometheus(database))))
            }
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        shutdown.set(group)
        do {
            try await group.run()
        } catch {
            try? database.close()
            throw error
        }
        try database.close()
        logger.notice("engramd: stopped")
    }
}

/// Applies what is new in the watched logs, then waits for a change (`signal`) or `poll`
/// before looking again, until graceful shutdown.
struct LogWatcher: Service {
    let database: EngramDatabase
    let request: WatchRequest
    let poll: Duration
    let signal: ChangeSignal?
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            var reported: [String: String] = [:]  // each file's error, logged once while it lasts
            while !Task.isCancelled {
                let response = try await database.watch(request)
                for s in response.sources where reported[s.path] != s.error {
                    if let error = s.error { logger.warning("\(s.path): \(error)") }
                    reported[s.path] = s.error
                }
                for s in response.sources where s.applied + s.skipped + s.deadLetters > 0 && s.error == nil {
                    logger.info("\(s.path): \(s.applied) applied, \(s.skipped) already applied, \(s.deadLetters) dead letters; offset \(s.offset)")
                }
                // Only an idle pass waits: a backlog is applied at full speed.
                if response.sources.allSatisfy({ $0.lines == 0 }) {
                    if let signal { await signal.wait(upTo: poll) } else { try? await Task.sleep(for: poll) }
                }
            }
        }
    }
}
extension LogFormat: ExpressibleByArgument {}

/// Bootstraps swift-metrics with a Prometheus registry (once per process) and returns the text
/// `/metrics` serves: the server's counters, with the store's size read at each scrape.
func prometheus(_ database: EngramDatabase) -> @Sendable () -> String {
    let registry = PrometheusCollectorRegistry()
    var factory = PrometheusMetricsFactory(registry: registry)
    // From half a millisecond (a query) to a minute (an answer generated).
    factory.defaultDurationHistogramBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
        .map { Duration.nanoseconds(Int64($0 * 1e9)) }
    MetricsSystem.bootstrap(factory)
    let memories = registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "engram", metricName: "memories", unitName: "",
                                                                           helpText: "Memories in the store"))
    return {
        if let stats = try? database.stats() { memories.set(Double(stats.memories)) }
        return registry.emitToString()
    }
}

/// Loads the model again on SIGHUP, as `Admin/ReloadModel` without a path does; a failure is
/// logged and the old model keeps serving.
struct ModelReloader: Service {
    let models: Models
    let logger: Logger

    func run() async {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups {
                let models = self.models
                do {
                    let swapped = try await EngramService.offPool { try models.reload(nil) }
                    logger.notice("engramd: SIGHUP: \(swapped.model) serves now (loaded in \(Int(swapped.loadMs)) ms)")
                } catch {
                    logger.error("engramd: SIGHUP: the model could not be loaded (\(error)); \(models.servingFile ?? "no model") serves still")
                }
            }
        }
    }
}

/// Lets `Admin/Shutdown` begin the service group's graceful shutdown.
final class ShutdownTrigger: Sendable {
    private let group = Mutex<ServiceGroup?>(nil)
    func set(_ group: ServiceGroup) { self.group.withLock { $0 = group } }
    func fire() {
        guard let group = group.withLock({ $0 }) else { return }
        Task { await group.triggerGracefulShutdown() }
    }
}
