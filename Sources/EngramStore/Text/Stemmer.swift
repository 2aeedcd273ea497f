import CStemmer
import EngramBase

/// A Snowball stemmer (libstemmer) for one language, UTF-8.
///
/// Not thread-safe (libstemmer keeps its working buffer in the stemmer): each analysis
/// session owns one. Stems are cached, since the same words come back all the time.
final class Stemmer {
    private let handle: OpaquePointer
    private var cache: [String: String] = [:]

    /// The languages libstemmer knows (canonical names, e.g. `english`, `german`).
    static let languages: [String] = {
        guard let list = sb_stemmer_list() else { return [] }
        var names: [String] = []
        var i = 0
        while let name = list[i] {
            names.append(String(cString: name))
            i += 1
        }
        return names.sorted()
    }()

    /// - Throws: `invalidArgument` when libstemmer has no stemmer for `language`.
    init(language: String) throws {
        guard let handle = sb_stemmer_new(language, "UTF_8") else {
            throw EngramError.invalidSettings("[text] language \"\(language)\" has no Snowball stemmer (known: \(Self.languages.joined(separator: ", ")), or \"none\")")
        }
        self.handle = handle
    }

    deinit { sb_stemmer_delete(handle) }

    /// Cached stems kept at most; past it the cache starts again (a bounded working set).
    static let cacheLimit = 65_536

    func stem(_ word: String) -> String {
        if let hit = cache[word] { return hit }
        var word = word
        let stemmed: String = word.withUTF8 { bytes in
            guard let out = sb_stemmer_stem(handle, bytes.baseAddress, Int32(bytes.count)) else { return String(decoding: bytes, as: UTF8.self) }
            let length = Int(sb_stemmer_length(handle))
            return String(decoding: UnsafeBufferPointer(start: out, count: length), as: UTF8.self)
        }
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[word] = stemmed
        return stemmed
    }
}
