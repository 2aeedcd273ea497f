import EngramBase
import EngramStore
import Foundation
import Testing

/// `engram.toml` as the format-1 version wrote it with `toml()` after the first text write
/// (defaults, embedder bound): the input that opening an existing database must still read.
private let formatOneBound = #"""
# Engram database settings. Edit with care: `dimension` cannot change after init.
format = 1

[store]
dimension = 384
# flat | ivf | hnsw | auto (flat below auto_ivf_threshold live memories, then ivf)
index = "auto"
# fsync the write-ahead log before a write is acknowledged
sync = true
# IVF lists probed per query (0 = automatic: nlist/16, at least ~6000 vectors); HNSW search breadth
nprobe = 0
ef_search = 64
hnsw_m = 32
auto_ivf_threshold = 20000
ivf_min_training_size = 10000
snapshot_every = 200000
# threads for index builds (0 = all cores)
threads = 0
max_id_bytes = 512
max_text_bytes = 1048576

[scoring]
# score = w_sim*similarity + w_time*0.5^(age/half_life) + w_importance*importance
w_sim = 1.0
w_time = 0.0
w_importance = 0.0
half_life = "30d"
# time (event time) | access (last access, else event time)
decay = "time"

[embedder]
# set by the first text write; a database refuses vectors from another model
model = "all-MiniLM-L6-v2"
# model folder ("" = $ENGRAM_EMBED_MODEL, $ENGRAM_MODELS, else Data/models/)
path = ""

"""#

/// The format-1 `toml()` of non-default settings, with a path that needs escapes.
private let formatOneCustom = #"""
# Engram database settings. Edit with care: `dimension` cannot change after init.
format = 1

[store]
dimension = 128
# flat | ivf | hnsw | auto (flat below auto_ivf_threshold live memories, then ivf)
index = "hnsw"
# fsync the write-ahead log before a write is acknowledged
sync = false
# IVF lists probed per query (0 = automatic: nlist/16, at least ~6000 vectors); HNSW search breadth
nprobe = 0
ef_search = 64
hnsw_m = 32
auto_ivf_threshold = 20000
ivf_min_training_size = 10000
snapshot_every = 200000
# threads for index builds (0 = all cores)
threads = 0
max_id_bytes = 512
max_text_bytes = 1048576

[scoring]
# score = w_sim*similarity + w_time*0.5^(age/half_life) + w_importance*importance
w_sim = 1.0
w_time = 0.25
w_importance = 1e-07
half_life = "12h"
# time (event time) | access (last access, else event time)
decay = "time"

[embedder]
# set by the first text write; a database refuses vectors from another model
model = ""
# model folder ("" = $ENGRAM_EMBED_MODEL, $ENGRAM_MODELS, else Data/models/)
path = "/models/mini \"lm\" # 1"

"""#

/// The error `StoreSettings.parse(text)` throws, after checking it is a settings error.
private func settingsError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> EngramError? {
    let error = #expect(throws: EngramError.self, sourceLocation: sourceLocation) { try StoreSettings.parse(text) }
    #expect(error?.code == .invalidArgument && error?.reason == .invalidSettings, "\(String(describing: error))",
            sourceLocation: sourceLocation)
    return error
}

@Suite("engram.toml: parsed with TOMLKit, validated when read")
struct SettingsTests {
    @Test("a file written by format 1 reads with the same values, its bound embedder as legacyEmbedder")
    func formatOneFiles() throws {
        let bound = try StoreSettings.parse(formatOneBound)
        #expect(bound.legacyEmbedder == "all-MiniLM-L6-v2")
        // Every other value is the file's (format 1 wrote every default out; snapshot_every's
        // default has changed since).
        var formatOneDefaults = try StoreSettings.parse("[embedder]\nmodel = \"all-MiniLM-L6-v2\"\n")
        formatOneDefaults.snapshotEvery = 200_000
        #expect(bound == formatOneDefaults)
        #expect(try StoreSettings.parse("[embedder]\nmodel = \"\"\n") == StoreSettings())

        let custom = try StoreSettings.parse(formatOneCustom)
        var expected = StoreSettings(dimension: 128, index: .hnsw)
        expected.sync = false
        expected.scoring.wTime = 0.25
        expected.scoring.wImportance = 1e-7
        expected.scoring.halfLife = 12 * 3600
        expected.embedderPath = "/models/mini \"lm\" # 1"
        expected.snapshotEvery = 200_000
        #expect(custom == expected)
        #expect(custom.legacyEmbedder == "")
    }

    @Test("toml() round-trips and no longer writes the bound embedder")
    func roundTrip() throws {
        var s = StoreSettings(dimension: 65_536, index: .ivf)
        s.sync = false
        s.nprobe = 65_536
        s.efSearch = 1
        s.hnswM = 4
        s.autoIVFThreshold = 320
        s.ivfMinimumTrainingSize = 1_000_000_000
        s.snapshotEvery = 1
        s.threads = 256
        s.maxIdBytes = 65_536
        s.maxTextBytes = 64 << 20
        s.scoring.wSim = 0.1
        s.scoring.wTime = 1e-7
        s.scoring.wImportance = 123_456.75
        s.scoring.halfLife = 1.5
        s.scoring.decay = .access
        s.embedderPath = "/models/\"mini\" \\ # 1\n\ttab \u{1} \u{7F} é 🙂"
        let text = s.toml()
        #expect(try StoreSettings.parse(text) == s)
        #expect(!text.contains("\nmodel"))
        #expect(try StoreSettings.parse(StoreSettings().toml()) == StoreSettings())
        for halfLife: Double in [DurationText.maximum, 2 * 604_800, 30 * 86_400, 90 * 60, 45, 0.001] {
            var h = StoreSettings()
            h.scoring.halfLife = halfLife
            #expect(try StoreSettings.parse(h.toml()).scoring.halfLife == halfLife)
        }
    }

    @Test("an empty file gives the defaults")
    func emptyFile() throws {
        #expect(try StoreSettings.parse("") == StoreSettings())
        #expect(try StoreSettings.parse("# only a comment\n") == StoreSettings())
    }

    @Test("comments, inline tables and integer weights parse")
    func commentsAndInlineTables() throws {
        let s = try StoreSettings.parse("""
            # a comment line
            format = 1 # trailing comment
            store = { dimension = 8, index = "flat" } # the store as an inline table
            scoring = { w_time = 1, half_life = "12h", decay = "access" }

            [embedder]
            path = "/opt/models # not a comment" # a comment
            """)
        var expected = StoreSettings(dimension: 8, index: .flat)
        expected.scoring.wTime = 1
        expected.scoring.halfLife = 12 * 3600
        expected.scoring.decay = .access
        expected.embedderPath = "/opt/models # not a comment"
        #expect(s == expected)
        // A duration may also be a number of seconds.
        #expect(try StoreSettings.parse("[scoring]\nhalf_life = 90\n").scoring.halfLife == 90)
        #expect(try StoreSettings.parse("[scoring]\nhalf_life = 0.5\n").scoring.halfLife == 0.5)
    }

    @Test("snapshot_every = -1 is refused with the key, its range and the value")
    func negativeSnapshotEvery() throws {
        let error = settingsError("[store]\nsnapshot_every = -1\n")
        #expect(error?.message == "engram.toml: [store] snapshot_every must be an integer from 1 to 1000000000, not -1")
        // Settings made in code are checked against the same ranges, and create() refuses them.
        var s = StoreSettings()
        s.snapshotEvery = -1
        let expected = EngramError(.invalidArgument, "engram.toml: [store] snapshot_every must be an integer from 1 to 1000000000, not -1",
                                   reason: .invalidSettings)
        #expect(throws: expected) { try s.validate() }
        try withTempDirectory { dir in
            #expect(throws: expected) { try MemoryStore.create(at: dir, settings: s) }
            #expect(!FileManager.default.fileExists(atPath: dir.path))
        }
    }

    /// (section, key, value) triples out of range.
    static let outOfRangeValues: [(String, String, String)] = [
        ("[store]", "dimension", "0"), ("[store]", "dimension", "65537"),
        ("[store]", "nprobe", "-1"), ("[store]", "nprobe", "65537"),
        ("[store]", "ef_search", "0"), ("[store]", "ef_search", "65537"),
        ("[store]", "hnsw_m", "3"), ("[store]", "hnsw_m", "513"),
        ("[store]", "auto_ivf_threshold", "0"), ("[store]", "auto_ivf_threshold", "319"),
        ("[store]", "ivf_min_training_size", "10"), ("[store]", "ivf_min_training_size", "1000000001"),
        ("[store]", "snapshot_every", "0"), ("[store]", "snapshot_every", "-1"),
        ("[store]", "snapshot_every", "1000000001"),
        ("[store]", "threads", "-1"), ("[store]", "threads", "257"),
        ("[store]", "max_id_bytes", "0"), ("[store]", "max_id_bytes", "65537"),
        ("[store]", "max_text_bytes", "0"), ("[store]", "max_text_bytes", "67108865"),
        ("[store]", "index", "\"tree\""),
        ("[scoring]", "w_sim", "-1"), ("[scoring]", "w_sim", "nan"), ("[scoring]", "w_time", "inf"),
        ("[scoring]", "w_time", "-0.5"), ("[scoring]", "w_importance", "-inf"),
        ("[scoring]", "half_life", "\"0s\""), ("[scoring]", "half_life", "\"-5d\""),
        ("[scoring]", "half_life", "\"1e300d\""), ("[scoring]", "half_life", "\"1001y\""),
        ("[scoring]", "half_life", "\"soon\""), ("[scoring]", "half_life", "0"),
        ("[scoring]", "half_life", "-60"), ("[scoring]", "half_life", "1e300"),
        ("[scoring]", "half_life", "nan"), ("[scoring]", "decay", "\"later\""),
    ]

    @Test("each value out of its range is refused, naming the key", arguments: outOfRangeValues)
    func outOfRange(section: String, key: String, value: String) throws {
        let error = settingsError("\(section)\n\(key) = \(value)\n")
        #expect(error?.message.hasPrefix("engram.toml: \(section) \(key)") == true, "\(String(describing: error))")
    }

    @Test("the bounds of each range are accepted")
    func rangeBounds() throws {
        let low = try StoreSettings.parse("""
            [store]
            dimension = 1
            nprobe = 0
            ef_search = 1
            hnsw_m = 4
            auto_ivf_threshold = 320
            ivf_min_training_size = 320
            snapshot_every = 1
            threads = 0
            max_id_bytes = 1
            max_text_bytes = 1
            [scoring]
            w_sim = 0
            w_time = 0.0
            w_importance = 0
            half_life = "0.001s"
            """)
        #expect(low.dimension == 1 && low.efSearch == 1 && low.hnswM == 4 && low.snapshotEvery == 1)
        #expect(low.maxIdBytes == 1 && low.maxTextBytes == 1 && low.scoring.halfLife == 0.001)
        let high = try StoreSettings.parse("""
            [store]
            dimension = 65536
            nprobe = 65536
            ef_search = 65536
            hnsw_m = 512
            auto_ivf_threshold = 1000000000
            ivf_min_training_size = 1000000000
            snapshot_every = 1000000000
            threads = 256
            max_id_bytes = 65536
            max_text_bytes = 67108864
            [scoring]
            half_life = 31557600000
            """)
        #expect(high.dimension == 65_536 && high.threads == 256 && high.maxTextBytes == 64 << 20)
        #expect(high.scoring.halfLife == DurationText.maximum)
    }

    @Test("format: a newer one is refused with advice, 0 and below are refused")
    func format() throws {
        #expect(settingsError("format = 2\n[store]\nnew_key = 1\n")?.message
            == "engram.toml: format 2 was written by a newer Engram (this one reads format 1 and older); upgrade Engram")
        #expect(settingsError("format = 0\n")?.message == "engram.toml: format must be 1 or more, not 0")
    }

    @Test("a value of the wrong TOML type is refused, naming the key and both types", arguments: [
        ("[store]\nthreads = \"4\"", "[store] threads must be an integer, not a string"),
        ("[store]\ndimension = 384.0", "[store] dimension must be an integer, not a floating-point number"),
        ("[store]\nsync = \"yes\"", "[store] sync must be true or false, not a string"),
        ("[store]\nindex = 3", "[store] index must be a string, not an integer"),
        ("[scoring]\nw_sim = \"1\"", "[scoring] w_sim must be a number, not a string"),
        ("[scoring]\nhalf_life = true", "[scoring] half_life must be a duration such as \"30d\", not a boolean"),
        ("[scoring]\ndecay = [\"time\"]", "[scoring] decay must be a string, not an array"),
        ("[embedder]\npath = 1979-05-27", "[embedder] path must be a string, not a date or time"),
        ("[embedder]\nmodel = 5", "[embedder] model must be a string, not an integer"),
        ("format = \"1\"", "format must be an integer, not a string"),
        ("store = 3", "[store] must be a table, not an integer"),
        ("[[scoring]]\nw_sim = 1", "[scoring] must be a table, not an array"),
    ])
    func wrongTypes(text: String, message: String) throws {
        #expect(settingsError(text + "\n")?.message == "engram.toml: " + message)
    }

    @Test("unknown keys in the store's sections and at the top level are refused, naming them")
    func unknownKeys() throws {
        let typo = settingsError("[store]\nsnapshot_evry = 5\n")
        #expect(typo?.message.hasPrefix("engram.toml: unknown key 'snapshot_evry' in [store] (known: auto_ivf_threshold, dimension,") == true,
                "\(String(describing: typo))")
        #expect(settingsError("[scoring]\nw_sim = 1\nweight = 2\nhalflife = \"1d\"\n")?.message
            == "engram.toml: unknown keys 'halflife', 'weight' in [scoring] (known: decay, half_life, w_importance, w_sim, w_time)")
        #expect(settingsError("[embedder]\nname = \"x\"\n")?.message
            == "engram.toml: unknown key 'name' in [embedder] (known: model, path)")
        #expect(settingsError("dimension = 8\n")?.message
            == "engram.toml: unknown key 'dimension' at the top level (known: format)")
        // A table nested in a store section is an unknown key of that section.
        #expect(settingsError("[store.extra]\nx = 1\n")?.message.hasPrefix("engram.toml: unknown key 'extra' in [store]") == true)
    }

    @Test("[text] is read and range-checked: analyser, BM25, fusion")
    func textSection() throws {
        let settings = try StoreSettings.parse("""
            [text]
            language = "german"
            stop_words = "none"
            extra_stop_words = ["und", "der"]
            fold_diacritics = true
            k1 = 1.2
            b = 0.75
            mode = "text"
            fusion = "rrf"
            w_text = 0.3
            rrf_k = 20
            candidates = 50
            """)
        #expect(settings.text.language == "german" && settings.text.stopWords == .none && settings.text.extraStopWords == ["und", "der"])
        #expect(settings.text.foldsDiacritics && settings.text.k1 == 1.2 && settings.text.b == 0.75)
        #expect(settings.text.mode == .text && settings.text.fusion == .rrf && settings.text.wText == 0.3)
        #expect(settings.text.rrfK == 20 && settings.text.candidates == 50)
        #expect(try StoreSettings.parse(settings.toml()) == settings)
        // Folding defaults by language.
        #expect(try StoreSettings.parse("[text]\nlanguage = \"french\"\n").text.foldsDiacritics == false)
        #expect(try StoreSettings.parse("").text.foldsDiacritics)
        #expect(settingsError("[text]\nlanguage = \"klingon\"\n")?.message.hasPrefix("engram.toml: [text] language \"klingon\" has no Snowball stemmer (known: arabic,") == true)
        #expect(settingsError("[text]\nk1 = -1\n")?.message == "engram.toml: [text] k1 must be a number from 0 to 10, not -1.0")
        #expect(settingsError("[text]\nb = 1.5\n")?.message == "engram.toml: [text] b must be a number from 0 to 1, not 1.5")
        #expect(settingsError("[text]\ncandidates = 0\n")?.message == "engram.toml: [text] candidates must be an integer from 1 to 10000, not 0")
        #expect(settingsError("[text]\nw_text = 1.5\n")?.message == "engram.toml: [text] w_text must be a number from 0 to 1, not 1.5")
        #expect(settingsError("[text]\nrrf_k = 0\n")?.message == "engram.toml: [text] rrf_k must be an integer from 1 to 10000, not 0")
        #expect(settingsError("[text]\ncontext_window = 17\n")?.message == "engram.toml: [text] context_window must be an integer from 0 to 16, not 17")
        #expect(settingsError("[text]\nboost = 2\n")?.message == "engram.toml: [text] boost must be a number from 0 to 1, not 2.0")
        #expect(settingsError("[text]\nfusion = \"sum\"\n")?.message == "engram.toml: [text] fusion must be one of \"minmax\", \"zscore\", \"rrf\", not \"sum\"")
        #expect(settingsError("[text]\nextra_stop_words = [\"a\", 3]\n")?.message == "engram.toml: [text] extra_stop_words must be an array of strings, not an integer")
        #expect(settingsError("[text]\nfold_diacritics = \"yes\"\n")?.message == "engram.toml: [text] fold_diacritics must be true or false, not a string")
    }

    @Test("sections the store does not own are left to their owners; the document reports the unclaimed ones")
    func unclaimedSections() throws {
        let text = """
            server = { socket = "engramd.sock" }
            [store]
            dimension = 8
            [graph]
            depth = 2
            [scorng]
            w_time = 1.0
            [[mapping]]
            table = "orders"
            [[mapping]]
            table = "customers"
            """
        let settings = try StoreSettings.parse(text)
        #expect(settings.dimension == 8 && settings.scoring.wTime == 0)
        let document = try SettingsDocument(parsing: text)
        #expect(document.unclaimedSections(claimed: StoreSettings.sections) == ["graph", "mapping", "scorng", "server"])
        #expect(document.unclaimedSections(claimed: StoreSettings.sections.union(["graph", "server", "mapping"])) == ["scorng"])
        #expect(try StoreSettings(document) == settings)
    }

    @Test("another module reads its own section from the same document")
    func otherModuleSection() throws {
        let document = try SettingsDocument(parsing: """
            [store]
            dimension = 8
            [server]
            socket = "engramd.sock"
            max_frame_bytes = 1048576
            idle = "90s"
            """)
        var server = try document.section("server")
        #expect(server.name == "server")
        #expect(try server.string("socket", default: "") == "engramd.sock")
        #expect(try server.integer("max_frame_bytes", default: 0) == 1 << 20)
        #expect(try server.duration("idle", default: 60) == 90)
        #expect(try server.boolean("tls", default: false) == false)
        try server.rejectUnknownKeys()
        // An absent section reads as all defaults.
        var absent = try document.section("rag")
        #expect(try absent.number("temperature", default: 0.7) == 0.7)
        try absent.rejectUnknownKeys()
    }

    @Test("invalid TOML is refused with its line and column")
    func syntaxErrors() throws {
        let error = settingsError("[store]\ndimension = many\n")
        #expect(error?.message.hasPrefix("engram.toml: line 2, column") == true, "\(String(describing: error))")
        #expect(settingsError("[store]\ndimension = 8\ndimension = 9\n")?.message.hasPrefix("engram.toml: line 3,") == true)
        #expect(settingsError("[store\n")?.message.hasPrefix("engram.toml: line 1,") == true)
        #expect(settingsError("[store]\ndimension = 8\n\0dimension = 9\n")?.message
            == "engram.toml: line 3: the file contains a NUL byte")
    }
}

@Suite("DurationText")
struct DurationTextTests {
    @Test func parse() throws {
        #expect(try DurationText.parse("90m") == 5400)
        #expect(try DurationText.parse("30d") == 30 * 86_400)
        #expect(try DurationText.parse(" 2W ") == 2 * 604_800)
        #expect(try DurationText.parse("45s") == 45)
        #expect(try DurationText.parse("1.5h") == 5400)
        #expect(try DurationText.parse("3600") == 3600)
        #expect(try DurationText.parse("52178w") == 52_178 * 604_800)
        #expect(try DurationText.parse("31557600000") == DurationText.maximum)
    }

    @Test("refused: no number, not positive, not finite, longer than 1000 years", arguments: [
        "", "d", "soon", "12 h", "0", "0d", "-5d", "nan", "inf", "infd", "1e300d", "1e308w", "52179w", "31557600001",
    ])
    func parseRefuses(text: String) throws {
        let error = #expect(throws: EngramError.self) { try DurationText.parse(text) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("'\(text)'") == true)
    }

    @Test func format() throws {
        #expect(DurationText.format(30 * 86_400) == "30d")
        #expect(DurationText.format(2 * 604_800) == "2w")
        #expect(DurationText.format(5400) == "90m")
        #expect(DurationText.format(7200) == "2h")
        #expect(DurationText.format(45) == "45s")
        #expect(DurationText.format(1.5) == "1.5s")
        #expect(DurationText.format(86_401) == "86401s")
        // Total: values no setting accepts format without trapping.
        #expect(DurationText.format(1e300) == "1e+300s")
        #expect(DurationText.format(.infinity) == "infs")
        #expect(DurationText.format(-.infinity) == "-infs")
        #expect(DurationText.format(.nan) == "nans")
        #expect(DurationText.format(-60) == "-60.0s")
    }

    @Test("parse(format(x)) == x for what parse returns", arguments: [
        DurationText.maximum, 52_178 * 604_800, 30 * 86_400, 3 * 86_400 + 1, 5400, 90, 1.5, 0.001, 1e-9,
    ] as [Double])
    func roundTrip(seconds: Double) throws {
        #expect(try DurationText.parse(DurationText.format(seconds)) == seconds)
    }
}
