import EngramBase
import Foundation

/// How the ANN index is built.
public enum IndexKind: String, Sendable, CaseIterable, Codable {
    /// Exact inner-product scan (BLAS). Every query is exact; cost grows with the count.
    case flat
    /// Inverted lists over k-means centroids; trained once `ivfMinimumTrainingSize` vectors
    /// exist (until then it searches exactly), retrained on compact and as the count grows 4×.
    case ivf
    /// HNSW graph. Fast queries, slow inserts with Debian's FAISS build; deletes are
    /// tombstones until compact.
    case hnsw
    /// `flat` below `autoIVFThreshold` live memories, `ivf` from there on.
    case auto
}

/// Which timestamp the recency term decays from.
public enum DecayBasis: String, Sendable, CaseIterable, Codable {
    /// The memory's event `time`.
    case time
    /// `lastAccessedAt` (falling back to `time` for memories never touched).
    case access
}

/// Default scoring (`[scoring]` in `engram.toml`), overridable per query.
public struct ScoringDefaults: Sendable, Equatable {
    /// `w_sim`, weight of similarity: finite, ≥ 0; default 1.
    public var wSim: Double = 1.0
    /// `w_time`, weight of recency: finite, ≥ 0; default 0 (plain similarity order).
    public var wTime: Double = 0.0
    /// `w_importance`, weight of importance: finite, ≥ 0; default 0.
    public var wImportance: Double = 0.0
    /// `half_life`, in seconds: positive, at most `DurationText.maximum` (1,000 years);
    /// default 30 days.
    public var halfLife: Double = 30 * 86_400
    /// `decay`: `time` or `access`; default `time`.
    public var decay: DecayBasis = .time
    public init() {}
}

/// The store's settings: the sections `[store]`, `[scoring]`, `[text]` and `[embedder]` of
/// `<db>/engram.toml`, and its top-level `format`.
///
/// Every limit is a named setting with a default and a range; `validate()` checks the ranges,
/// and reading a file (`parse`, `init(_:)`) validates what it read.
public struct StoreSettings: Sendable, Equatable {
    /// The `format` this version writes and the newest it reads.
    public static let formatVersion = 1
    /// The sections of `engram.toml` the store owns, for `SettingsDocument.unclaimedSections(claimed:)`.
    public static let sections: Set<String> = ["store", "scoring", "embedder", "text"]

    /// `[store] dimension`: the length of every vector, 1…65536; default 384. Fixed at creation.
    public var dimension: Int = 384
    /// `[store] index`: `flat`, `ivf`, `hnsw` or `auto`; default `auto`.
    public var index: IndexKind = .auto
    /// `[store] sync`: sync the write-ahead log before acknowledging each write batch; default true.
    public var sync: Bool = true
    /// `[store] nprobe`: IVF lists probed per query, 0…65536 (more than the lists probes them
    /// all); 0 = automatic (1/16 of the lists, at least 8 and at least enough to scan ~6,000
    /// vectors); default 0.
    public var nprobe: Int = 0
    /// `[store] ef_search`: HNSW search breadth, 1…65536 (a query asking for more results
    /// searches at least that wide); default 64.
    public var efSearch: Int = 64
    /// `[store] hnsw_m`: HNSW links per node, 4…512; default 32.
    public var hnswM: Int = 32
    /// `[store] auto_ivf_threshold`: `auto` switches from flat to IVF at this many live
    /// memories, 320…1,000,000,000; default 20,000.
    public var autoIVFThreshold: Int = 20_000
    /// `[store] ivf_min_training_size`: IVF is not trained before this many vectors exist,
    /// 320…1,000,000,000; default 10,000.
    public var ivfMinimumTrainingSize: Int = 10_000
    /// `[store] snapshot_every`: save an index snapshot in the background once this many
    /// changes have accumulated since the last one, 1…1,000,000,000; default 50,000.
    public var snapshotEvery: Int = 50_000
    /// `[store] threads`: threads FAISS and OpenBLAS may use for index builds, 0…256;
    /// 0 = the thread budget (`$ENGRAM_THREADS`, else all cores this process may use); default 0.
    public var threads: Int = 0
    /// `[store] max_id_bytes`: largest accepted id, in UTF-8 bytes, 1…65536; default 512.
    public var maxIdBytes: Int = 512
    /// `[store] max_text_bytes`: largest accepted text, in UTF-8 bytes, 1…67,108,864 (64 MiB);
    /// default 1 MiB.
    public var maxTextBytes: Int = 1 << 20
    /// `[scoring]`: the default weights, half-life and decay basis of queries.
    public var scoring = ScoringDefaults()
    /// `[text]`: the full-text index's analyser and BM25, and how text queries retrieve.
    public var text = TextSettings()
    /// The bound embedder recorded by format-1 databases (`[embedder] model`, "" = none);
    /// migrated into the database state on open. `toml()` no longer writes it.
    public internal(set) var legacyEmbedder: String = ""
    /// `[embedder] path`: folder of the embedder's model files; "" (the default) = found by
    /// the usual search: environment variables, then `Data/models/`.
    public var embedderPath: String = ""

    public init(dimension: Int = 384, index: IndexKind = .auto) {
        self.dimension = dimension
        self.index = index
    }

    /// `threads`, or (0) the thread budget's cores (`ThreadBudget.cores`).
    var effectiveThreads: Int { threads > 0 ? threads : ThreadBudget.cores }

    // MARK: Reading

    /// Parses and validates the text of `engram.toml` (see `init(_:)`).
    ///
    /// - Throws: `EngramError` (`invalidArgument`, reason `invalidSettings`) for invalid TOML,
    ///   an unknown key in a store section, a value of the wrong type or out of its range.
    public static func parse(_ text: String) throws -> StoreSettings {
        try StoreSettings(SettingsDocument(parsing: text))
    }

    /// Reads the store's sections of `document` and validates them. A key that is absent takes
    /// its default; sections the store does not own are left to their owners.
    ///
    /// - Throws: `EngramError` (`invalidArgument`, reason `invalidSettings`) naming the key:
    ///   unknown keys in `[store]`, `[scoring]`, `[embedder]` or at the top level, values of the
    ///   wrong TOML type, values outside their range, and a `format` newer than
    ///   `formatVersion`.
    public init(_ document: SettingsDocument) throws {
        var top = document.topLevel
        // The format first: a newer one explains every unknown key that follows.
        let format = try top.integer("format", default: Self.formatVersion)
        guard format <= Self.formatVersion else {
            throw EngramError.invalidSettings("format \(format) was written by a newer Engram (this one reads format \(Self.formatVersion) and older); upgrade Engram")
        }
        guard format >= 1 else { throw EngramError.invalidSettings("format must be 1 or more, not \(format)") }

        var store = try document.section("store")
        dimension = try store.integer("dimension", default: dimension)
        index = try store.choice("index", default: index)
        sync = try store.boolean("sync", default: sync)
        nprobe = try store.integer("nprobe", default: nprobe)
        efSearch = try store.integer("ef_search", default: efSearch)
        hnswM = try store.integer("hnsw_m", default: hnswM)
        autoIVFThreshold = try store.integer("auto_ivf_threshold", default: autoIVFThreshold)
        ivfMinimumTrainingSize = try store.integer("ivf_min_training_size", default: ivfMinimumTrainingSize)
        snapshotEvery = try store.integer("snapshot_every", default: snapshotEvery)
        threads = try store.integer("threads", default: threads)
        maxIdBytes = try store.integer("max_id_bytes", default: maxIdBytes)
        maxTextBytes = try store.integer("max_text_bytes", default: maxTextBytes)
        try store.rejectUnknownKeys()

        var scoring = try document.section("scoring")
        self.scoring.wSim = try scoring.number("w_sim", default: self.scoring.wSim)
        self.scoring.wTime = try scoring.number("w_time", default: self.scoring.wTime)
        self.scoring.wImportance = try scoring.number("w_importance", default: self.scoring.wImportance)
        self.scoring.halfLife = try scoring.duration("half_life", default: self.scoring.halfLife)
        self.scoring.decay = try scoring.choice("decay", default: self.scoring.decay)
        try scoring.rejectUnknownKeys()

        var text = try document.section("text")
        self.text = try TextSettings(&text)

        var embedder = try document.section("embedder")
        legacyEmbedder = try embedder.string("model", default: legacyEmbedder)
        embedderPath = try embedder.string("path", default: embedderPath)
        try embedder.rejectUnknownKeys()

        // Last, so that `store = 3` is reported as a section that must be a table.
        try top.rejectUnknownKeys()
        try validate()
    }

    // MARK: Validation

    /// Checks every setting against its documented range.
    ///
    /// - Throws: `EngramError` (`invalidArgument`, reason `invalidSettings`) naming the first
    ///   setting out of range as `engram.toml` spells it: `engram.toml: [store] snapshot_every
    ///   must be an integer from 1 to 1000000000, not -1`.
    public func validate() throws {
        // IVF k-means needs 40 training vectors for each of the 8 lists of the smallest index.
        let ivfMinimum = 320
        let counts: [(String, Int, ClosedRange<Int>)] = [
            ("dimension", dimension, 1...65_536),
            ("nprobe", nprobe, 0...65_536),
            ("ef_search", efSearch, 1...65_536),
            ("hnsw_m", hnswM, 4...512),
            ("auto_ivf_threshold", autoIVFThreshold, ivfMinimum...1_000_000_000),
            ("ivf_min_training_size", ivfMinimumTrainingSize, ivfMinimum...1_000_000_000),
            ("snapshot_every", snapshotEvery, 1...1_000_000_000),
            ("threads", threads, 0...256),
            ("max_id_bytes", maxIdBytes, 1...65_536),
            ("max_text_bytes", maxTextBytes, 1...(64 << 20)),
        ]
        for (key, value, range) in counts where !range.contains(value) {
            throw EngramError.invalidSettings("[store] \(key) must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value)")
        }
        for (key, weight) in [("w_sim", scoring.wSim), ("w_time", scoring.wTime), ("w_importance", scoring.wImportance)]
        where !(weight.isFinite && weight >= 0) {
            throw EngramError.invalidSettings("[scoring] \(key) must be a finite number ≥ 0, not \(weight)")
        }
        guard scoring.halfLife > 0, scoring.halfLife <= DurationText.maximum else {
            throw EngramError.invalidSettings("[scoring] half_life must be a positive duration of at most 1000 years, not \(scoring.halfLife) seconds")
        }
        try text.validate()
    }
}
