import Foundation

/// How the ANN index is built.
public enum IndexKind: String, Sendable, CaseIterable {
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
public enum DecayBasis: String, Sendable, CaseIterable {
    /// The memory's event `time`.
    case time
    /// `lastAccessedAt` (falling back to `time` for memories never touched).
    case access
}

/// Default scoring, overridable per query.
public struct ScoringDefaults: Sendable, Equatable {
    public var wSim: Double = 1.0
    public var wTime: Double = 0.0
    public var wImportance: Double = 0.0
    /// Seconds.
    public var halfLife: Double = 30 * 86_400
    public var decay: DecayBasis = .time
    public init() {}
}

/// The contents of `<db>/engram.toml`. Every limit is a named setting with a default.
public struct StoreSettings: Sendable, Equatable {
    public static let formatVersion = 1
    public var dimension: Int = 384
    public var index: IndexKind = .auto
    /// Sync the write-ahead log before acknowledging each write batch.
    public var sync: Bool = true
    /// IVF lists probed per query; 0 = automatic (1/16 of the lists, at least 8 and at least
    /// enough to scan ~6,000 vectors).
    public var nprobe: Int = 0
    public var efSearch: Int = 64
    public var hnswM: Int = 32
    /// `auto` switches from flat to IVF at this many live memories.
    public var autoIVFThreshold: Int = 20_000
    /// IVF is not trained before this many vectors exist.
    public var ivfMinimumTrainingSize: Int = 10_000
    /// Save a FAISS snapshot after this many changes since the last one.
    public var snapshotEvery: Int = 200_000
    /// Threads FAISS and OpenBLAS may use for index builds; 0 = all cores.
    public var threads: Int = 0
    /// Largest accepted id, in UTF-8 bytes.
    public var maxIdBytes: Int = 512
    /// Largest accepted text, in UTF-8 bytes.
    public var maxTextBytes: Int = 1 << 20
    public var scoring = ScoringDefaults()
    /// Identifier of the embedder whose vectors the database holds ("" = vectors come from
    /// the caller). Set by the first text write; a different embedder is refused later.
    public var embedder: String = ""
    /// Folder of the embedder's model files ("" = found by the usual search: environment
    /// variables, then `Data/models/`).
    public var embedderPath: String = ""

    public init(dimension: Int = 384, index: IndexKind = .auto) {
        self.dimension = dimension
        self.index = index
    }

    var effectiveThreads: Int { threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount }

    // MARK: TOML

    /// Renders the settings as TOML with comments.
    public func toml() -> String {
        """
        # Engram database settings. Edit with care: `dimension` cannot change after init.
        format = \(Self.formatVersion)

        [store]
        dimension = \(dimension)
        # flat | ivf | hnsw | auto (flat below auto_ivf_threshold live memories, then ivf)
        index = "\(index.rawValue)"
        # fsync the write-ahead log before a write is acknowledged
        sync = \(sync)
        # IVF lists probed per query (0 = automatic: nlist/16, at least ~6000 vectors); HNSW search breadth
        nprobe = \(nprobe)
        ef_search = \(efSearch)
        hnsw_m = \(hnswM)
        auto_ivf_threshold = \(autoIVFThreshold)
        ivf_min_training_size = \(ivfMinimumTrainingSize)
        snapshot_every = \(snapshotEvery)
        # threads for index builds (0 = all cores)
        threads = \(threads)
        max_id_bytes = \(maxIdBytes)
        max_text_bytes = \(maxTextBytes)

        [scoring]
        # score = w_sim*similarity + w_time*0.5^(age/half_life) + w_importance*importance
        w_sim = \(scoring.wSim)
        w_time = \(scoring.wTime)
        w_importance = \(scoring.wImportance)
        half_life = "\(DurationText.format(scoring.halfLife))"
        # time (event time) | access (last access, else event time)
        decay = "\(scoring.decay.rawValue)"

        [embedder]
        # set by the first text write; a database refuses vectors from another model
        model = \(Self.quote(embedder))
        # model folder ("" = $ENGRAM_EMBED_MODEL, $ENGRAM_MODELS, else Data/models/)
        path = \(Self.quote(embedderPath))

        """
    }

    /// Parses the TOML written by `toml()` (a subset of TOML: sections, `key = value` with
    /// strings, numbers and booleans, `#` comments). Unknown keys are an error.
    public static func parse(_ text: String) throws -> StoreSettings {
        var s = StoreSettings()
        var section = ""
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = stripComment(String(rawLine)).trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            func fail(_ why: String) -> StoreError {
                .invalidArgument("engram.toml line \(number + 1): \(why)")
            }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw fail("unclosed section header") }
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { throw fail("expected key = value") }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            let isString = value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2
            if isString { value = unquote(String(value.dropFirst().dropLast())) }
            func int() throws -> Int { guard let v = Int(value) else { throw fail("\(key) must be an integer") }; return v }
            func double() throws -> Double { guard let v = Double(value), v.isFinite else { throw fail("\(key) must be a number") }; return v }
            func bool() throws -> Bool {
                guard value == "true" || value == "false" else { throw fail("\(key) must be true or false") }
                return value == "true"
            }
            switch (section, key) {
            case ("", "format"):
                guard try int() <= formatVersion else { throw fail("written by a newer Engram (format \(value))") }
            case ("store", "dimension"): s.dimension = try int()
            case ("store", "index"):
                guard let kind = IndexKind(rawValue: value) else { throw fail("index must be flat, ivf, hnsw or auto") }
                s.index = kind
            case ("store", "sync"): s.sync = try bool()
            case ("store", "nprobe"): s.nprobe = try int()
            case ("store", "ef_search"): s.efSearch = try int()
            case ("store", "hnsw_m"): s.hnswM = try int()
            case ("store", "auto_ivf_threshold"): s.autoIVFThreshold = try int()
            case ("store", "ivf_min_training_size"): s.ivfMinimumTrainingSize = try int()
            case ("store", "snapshot_every"): s.snapshotEvery = try int()
            case ("store", "threads"): s.threads = try int()
            case ("store", "max_id_bytes"): s.maxIdBytes = try int()
            case ("store", "max_text_bytes"): s.maxTextBytes = try int()
            case ("scoring", "w_sim"): s.scoring.wSim = try double()
            case ("scoring", "w_time"): s.scoring.wTime = try double()
            case ("scoring", "w_importance"): s.scoring.wImportance = try double()
            case ("scoring", "half_life"): s.scoring.halfLife = try DurationText.parse(value)
            case ("scoring", "decay"):
                guard let d = DecayBasis(rawValue: value) else { throw fail("decay must be time or access") }
                s.scoring.decay = d
            case ("embedder", "model"): s.embedder = value
            case ("embedder", "path"): s.embedderPath = value
            default:
                throw fail("unknown setting \(section.isEmpty ? "" : section + ".")\(key)")
            }
        }
        try s.validate()
        return s
    }

    public func validate() throws {
        guard (1...65_536).contains(dimension) else { throw StoreError.invalidArgument("dimension must be between 1 and 65536") }
        guard nprobe >= 0, efSearch >= 1, hnswM >= 4, threads >= 0 else {
            throw StoreError.invalidArgument("nprobe, ef_search, hnsw_m and threads must be positive")
        }
        guard scoring.halfLife > 0 else { throw StoreError.invalidArgument("half_life must be positive") }
    }

    private static func stripComment(_ line: String) -> String {
        var inString = false, escaped = false
        for (i, c) in line.enumerated() {
            if inString && c == "\\" && !escaped { escaped = true; continue }
            if c == "\"" && !escaped { inString.toggle() }
            escaped = false
            if c == "#" && !inString { return String(line.prefix(i)) }
        }
        return line
    }

    /// A TOML basic string.
    static func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private static func unquote(_ s: String) -> String {
        var out = "", escaped = false
        for c in s {
            if escaped { out.append(c); escaped = false } else if c == "\\" { escaped = true } else { out.append(c) }
        }
        return out
    }
}
