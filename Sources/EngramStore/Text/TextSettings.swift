import EngramBase

/// How a query finds its candidates.
public enum RetrievalMode: String, Sendable, CaseIterable, Codable {
    /// Cosine similarity of the vectors only.
    case vector
    /// BM25 over the full-text index only.
    case text
    /// Both lists, fused (`FusionMethod`).
    case hybrid
}

/// How the vector and the text lists are fused into one relevance.
public enum FusionMethod: String, Sendable, CaseIterable, Codable {
    /// `(1 − w_text)·minmax(cosine) + w_text·minmax(bm25)`, each normalised over its own list.
    case minmax
    /// The same weighted sum of z-scores (each list's scores less their mean, over their
    /// standard deviation), shifted so that a memory in neither list has relevance 0.
    case zscore
    /// Reciprocal-rank fusion: `(1 − w_text)/(rrf_k + rank_vector) + w_text/(rrf_k + rank_text)`,
    /// scaled so that first in both lists is 1.
    case rrf
}

/// Whether the analyser removes stop words.
public enum StopWordChoice: String, Sendable, CaseIterable {
    /// The language's bundled list (English; other languages have none yet), plus `extra_stop_words`.
    case `default`
    /// Only `extra_stop_words`.
    case none
}

/// The full-text index and hybrid retrieval: `[text]` in `engram.toml`.
///
/// The analyser's settings (language, stop words, diacritic folding) are recorded with the
/// index; changing them in engram.toml rebuilds the index at the next writable open.
public struct TextSettings: Sendable, Equatable {
    /// `language`: the Snowball stemmer (`english`, `german`, … as libstemmer names them) or
    /// `none` (no stemming); default `english`.
    public var language = "english"
    /// `stop_words`: `default` (the language's list) or `none`; default `default`.
    public var stopWords: StopWordChoice = .default
    /// `extra_stop_words`: more words to leave out (matched after case folding); default none.
    public var extraStopWords: [String] = []
    /// `fold_diacritics`: `café` indexed as `cafe`. Default: on for English and `none`, off for
    /// languages whose stemmers read the accents.
    public var foldDiacritics: Bool?
    /// `k1`: BM25 term-frequency saturation, 0…10; default 0.9.
    public var k1 = 0.9
    /// `b`: BM25 length normalisation, 0…1; default 0.4.
    public var b = 0.4
    /// `mode`: the default retrieval of a query given as text: `vector`, `text` or `hybrid`;
    /// default `hybrid`. (A query given as a vector only is always `vector`.)
    public var mode: RetrievalMode = .hybrid
    /// `fusion`: `minmax`, `zscore` or `rrf`; default `minmax`.
    public var fusion: FusionMethod = .minmax
    /// `w_text`: the text list's share of the fused relevance, 0…1; default 0.5.
    public var wText = 0.5
    /// `rrf_k`: the rank offset of reciprocal-rank fusion, 1…10,000; default 60.
    public var rrfK = 60
    /// `candidates`: how many memories each list contributes to a fusion (at least the
    /// query's k), 1…10,000; default 100.
    public var candidates = 100
    /// `context_window`: index each memory of a thread with the texts of up to this many
    /// neighbours on either side (0 = its own text only), 0…16; default 0. Results still
    /// return the memory itself. Suits conversations: the words of a question often sit in
    /// the turn before the one that answers it.
    public var contextWindow = 0
    /// `thread_field`: the `meta` key whose value groups a namespace's memories into
    /// threads ("" = the whole namespace is one thread); default "".
    public var threadField = ""
    /// `boost_fields`: `meta` keys (e.g. `speaker`) whose value, when the query names it,
    /// raises the relevance of the candidates (memories in the vector or text list) carrying
    /// it by `boost`; default none.
    public var boostFields: [String] = []
    /// `boost`: what a named `boost_fields` value adds to the relevance (once per field),
    /// 0…1; default 0.1.
    public var boost = 0.1

    public init() {}

    /// Whether diacritics are folded: the setting, else by language.
    public var foldsDiacritics: Bool { foldDiacritics ?? (language == "english" || language == "none") }

    /// Reads `[text]`.
    init(_ section: inout SettingsSection) throws {
        language = try section.string("language", default: language)
        stopWords = try section.choice("stop_words", default: stopWords)
        extraStopWords = try section.strings("extra_stop_words", default: extraStopWords)
        foldDiacritics = try section.optionalBoolean("fold_diacritics")
        k1 = try section.number("k1", default: k1)
        b = try section.number("b", default: b)
        mode = try section.choice("mode", default: mode)
        fusion = try section.choice("fusion", default: fusion)
        wText = try section.number("w_text", default: wText)
        rrfK = try section.integer("rrf_k", default: rrfK)
        candidates = try section.integer("candidates", default: candidates)
        contextWindow = try section.integer("context_window", default: contextWindow)
        threadField = try section.string("thread_field", default: threadField)
        boostFields = try section.strings("boost_fields", default: boostFields)
        boost = try section.number("boost", default: boost)
        try section.rejectUnknownKeys()
    }

    /// Checks the ranges (see each setting).
    func validate() throws {
        guard language == "none" || Stemmer.languages.contains(language) else {
            throw EngramError.invalidSettings("[text] language \"\(language)\" has no Snowball stemmer (known: \(Stemmer.languages.joined(separator: ", ")), or \"none\")")
        }
        guard k1.isFinite, (0...10).contains(k1) else { throw EngramError.invalidSettings("[text] k1 must be a number from 0 to 10, not \(k1)") }
        guard b.isFinite, (0...1).contains(b) else { throw EngramError.invalidSettings("[text] b must be a number from 0 to 1, not \(b)") }
        guard wText.isFinite, (0...1).contains(wText) else { throw EngramError.invalidSettings("[text] w_text must be a number from 0 to 1, not \(wText)") }
        guard (1...10_000).contains(rrfK) else { throw EngramError.invalidSettings("[text] rrf_k must be an integer from 1 to 10000, not \(rrfK)") }
        guard (1...10_000).contains(candidates) else { throw EngramError.invalidSettings("[text] candidates must be an integer from 1 to 10000, not \(candidates)") }
        guard (0...16).contains(contextWindow) else { throw EngramError.invalidSettings("[text] context_window must be an integer from 0 to 16, not \(contextWindow)") }
        guard boost.isFinite, (0...1).contains(boost) else { throw EngramError.invalidSettings("[text] boost must be a number from 0 to 1, not \(boost)") }
    }

    /// The `[text]` section as `toml()` writes it.
    func toml() -> String {
        """
        [text]
        # Full-text (BM25) index beside the vectors. Changing the analyser (language, stop words,
        # folding) rebuilds the index at the next writable open (e.g. `engram compact`).
        # Snowball stemmer: \(Stemmer.languages.joined(separator: " | ")) | none
        language = "\(language)"
        # default (the language's list) | none; extra_stop_words adds to either
        stop_words = "\(stopWords.rawValue)"
        extra_stop_words = [\(extraStopWords.map(StoreSettings.basicString).joined(separator: ", "))]
        \(foldDiacritics.map { "fold_diacritics = \($0)" } ?? "# fold_diacritics = true  (default: on for english and none)")
        k1 = \(k1)
        b = \(b)
        # retrieval of a text query: vector | text | hybrid; fusion: minmax | zscore | rrf
        mode = "\(mode.rawValue)"
        fusion = "\(fusion.rawValue)"
        w_text = \(wText)
        rrf_k = \(rrfK)
        candidates = \(candidates)
        # conversations: index each memory with up to context_window neighbours on either side
        # in its thread (the namespace, or the memories sharing meta.<thread_field>)
        context_window = \(contextWindow)
        thread_field = \(StoreSettings.basicString(threadField))
        # meta fields (e.g. ["speaker"]) whose value, named in a query, adds boost to relevance
        boost_fields = [\(boostFields.map(StoreSettings.basicString).joined(separator: ", "))]
        boost = \(boost)


        """
    }
}
