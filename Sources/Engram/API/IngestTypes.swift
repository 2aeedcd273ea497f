import EngramIngest
import Foundation

/// A one-shot catch-up of change logs (`engram watch`): apply every complete line after each
/// file's saved offset.
///
/// JSON: `{"paths":[…], "strict"?, "format"?}`.
public struct WatchRequest: Codable, Sendable, Equatable {
    /// Files, or directories whose files (sorted by name, hidden ones left out) are read in turn.
    public var paths: [String]
    /// Refuse a batch holding a line that cannot be applied, instead of dead-lettering it.
    public var strict: Bool?
    /// The format of every file (default: `[ingest] format`, else detected per file).
    public var format: LogFormat?
    /// The logs may still grow (a daemon following them): a transaction known only by its id
    /// is taken as complete at the end of a file only once the file has not changed for
    /// `WatchRequest.settleSeconds`. Default false: the files are read as complete.
    public var follow: Bool?

    /// How long a followed file must stay unchanged before a transaction open at its end is
    /// taken as complete.
    public static let settleSeconds = 1.0

    public init(paths: [String], strict: Bool? = nil, format: LogFormat? = nil, follow: Bool? = nil) {
        self.paths = paths
        self.strict = strict
        self.format = format
        self.follow = follow
    }
}

/// What one catch-up did to one file.
///
/// JSON: `{"path","format"?,"offset","size","lines","applied","skipped","deadLetters","waiting","error"?}`.
public struct SourceReport: Codable, Sendable, Equatable {
    public var path: String
    public var format: LogFormat?
    /// The offset after the last unit applied (the next read starts there).
    public var offset: Int64
    public var size: Int64
    /// Complete lines read this time.
    public var lines: Int
    /// Row changes applied.
    public var applied: Int
    /// Row changes skipped because the row had already seen that position or a later one.
    public var skipped: Int
    /// Lines (or changes) that could not be applied, recorded as dead letters.
    public var deadLetters: Int
    /// A transaction was begun and not yet committed at the end of the file: its changes
    /// wait for the rest.
    public var waiting: Bool
    /// Following (`follow`), why this file could not be read this time (the others go on).
    public var error: String?
}

/// The result of `watch`. JSON: `{"sources":[SourceReport]}`.
public struct WatchResponse: Codable, Sendable, Equatable {
    public var sources: [SourceReport]
}

/// A source's saved progress, as `engram ingest status` shows it.
///
/// JSON: `{"path","format"?,"offset","size"?,"lagBytes"?,"applied","skipped","deadLetters","updatedAt"}`.
public struct SourceStatus: Codable, Sendable, Equatable {
    public var path: String
    public var format: LogFormat?
    public var offset: Int64
    /// The file's size now (nil when it is gone).
    public var size: Int64?
    /// Bytes not applied yet.
    public var lagBytes: Int64?
    public var applied: Int
    public var skipped: Int
    public var deadLetters: Int
    public var updatedAt: Timestamp
}

/// A complete line that could not be applied. JSON: `{"file","offset","line","error","at"}`.
public struct DeadLetter: Codable, Sendable, Equatable {
    public var file: String
    public var offset: Int64
    public var line: String
    public var error: String
    public var at: Timestamp
}

/// The saved progress of every source. JSON: `{"sources":[SourceStatus]}`.
public struct IngestStatusResponse: Codable, Sendable, Equatable {
    public var sources: [SourceStatus]
    public init(sources: [SourceStatus]) { self.sources = sources }
}

/// Which dead letters to list. JSON: `{"limit"?}` (1…`DeadLettersRequest.maxLimit`, default 1000).
public struct DeadLettersRequest: Codable, Sendable, Equatable {
    public var limit: Int?
    public static let maxLimit = 100_000
    public init(limit: Int? = nil) { self.limit = limit }
}

/// Dead letters by file and offset. JSON: `{"deadLetters":[DeadLetter]}`.
public struct DeadLettersResponse: Codable, Sendable, Equatable {
    public var deadLetters: [DeadLetter]
    public init(deadLetters: [DeadLetter]) { self.deadLetters = deadLetters }
}

/// `Ingest/Import`'s parameters: as `engram import`'s options. JSON: `{"path","batchSize"?,
/// "namespace"?,"skipInvalid"?,"maxLineBytes"?}`; `path` absolute, read by engramd.
public struct ImportRequest: Codable, Sendable, Equatable {
    public var path: String
    public var batchSize: Int?
    public var namespace: String?
    public var skipInvalid: Bool?
    public var maxLineBytes: Int?

    public init(path: String, batchSize: Int? = nil, namespace: String? = nil, skipInvalid: Bool? = nil, maxLineBytes: Int? = nil) {
        self.path = path
        self.batchSize = batchSize
        self.namespace = namespace
        self.skipInvalid = skipInvalid
        self.maxLineBytes = maxLineBytes
    }
}

/// A message of `Ingest/Import`'s stream: one of `{"progress"}`, `{"acknowledged"}` (every line
/// up to it is durable), `{"skipped"}` (with `skipInvalid`), and last `{"summary"}`.
public struct ImportStreamMessage: Codable, Sendable, Equatable {
    public var progress: ImportProgress?
    public var acknowledged: Int?
    public var skipped: SkippedLine?
    public var summary: ImportSummary?

    public init(progress: ImportProgress? = nil, acknowledged: Int? = nil, skipped: SkippedLine? = nil, summary: ImportSummary? = nil) {
        self.progress = progress
        self.acknowledged = acknowledged
        self.skipped = skipped
        self.summary = summary
    }
}

/// Bytes read of the file (of `total`, when known) and records seen. JSON: `{"bytesRead","total"?,"records"}`.
public struct ImportProgress: Codable, Sendable, Equatable {
    public var bytesRead: Int64
    public var total: Int64?
    public var records: Int
    public init(bytesRead: Int64, total: Int64? = nil, records: Int) {
        self.bytesRead = bytesRead
        self.total = total
        self.records = records
    }
}

/// A line skipped by an import. JSON: `{"line","message"}`.
public struct SkippedLine: Codable, Sendable, Equatable {
    public var line: Int
    public var message: String
    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }
}
