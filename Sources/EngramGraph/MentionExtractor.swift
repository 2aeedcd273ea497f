import Foundation

/// Finds the entities a text mentions: names from a dictionary and identifiers matched by
/// patterns, each turned into an entity key.
///
/// - A **name** matches as whole words, whatever the case and the punctuation between them
///   (`Pump 7` matches `pump-7` and `PUMP 7`): texts and names are compared as sequences of
///   lowercased runs of letters and digits, the longest name first at each word. It stands
///   for a key (`devices:7`, when the value holds a `:`) or a type (`person`: the key is
///   `person:` and the name lowercased, with single spaces).
/// - A **pattern** is a regular expression (ICU syntax, as `NSRegularExpression`) with a
///   key template (`devices:$1`, `$0` the whole match) or a type (`part`: the key is
///   `part:` and the match lowercased).
///
/// Keys come out in order of first mention, each once, at most `limit` of them.
/// Immutable; safe to share between threads.
public struct MentionExtractor: Sendable {
    /// A pattern and what its matches stand for.
    public struct Pattern: Sendable {
        public let regex: NSRegularExpression
        /// A key template with `$n` groups when it holds a `:`, else a type.
        public let entity: String
    }

    private let names: [String: [(words: [String], key: String)]]
    private let patterns: [Pattern]
    public let limit: Int

    /// Whether anything is configured (else every text mentions nothing).
    public var isEmpty: Bool { names.isEmpty && patterns.isEmpty }

    /// - Parameters:
    ///   - names: name → key or type.
    ///   - patterns: `REGEX -> KEY-TEMPLATE-OR-TYPE` each.
    /// - Throws: `MentionExtractor.Invalid` naming a pattern that is not `REGEX -> ENTITY`, a
    ///   regular expression that does not compile, or a name without a letter or digit.
    public init(names: [String: String], patterns: [String], limit: Int) throws {
        var byFirst: [String: [(words: [String], key: String)]] = [:]
        for (name, target) in names {
            let words = Self.words(name).map(\.word)
            guard let first = words.first else { throw Invalid(message: "the name \"\(name)\" has no letter or digit") }
            let key = target.contains(":") ? target : "\(target):\(words.joined(separator: " "))"
            byFirst[first, default: []].append((words, key))
        }
        for first in byFirst.keys {
            // Longest first; equal lengths by key, so that the choice never depends on hashing.
            byFirst[first]!.sort { ($0.words.count, $1.key) > ($1.words.count, $0.key) }
        }
        self.names = byFirst
        self.patterns = try patterns.map { text in
            guard let arrow = text.range(of: " -> ", options: .backwards) else {
                throw Invalid(message: "the pattern \"\(text)\" is not REGEX -> ENTITY (a key template such as devices:$1, or a type)")
            }
            let source = String(text[..<arrow.lowerBound]), entity = text[arrow.upperBound...].trimmingCharacters(in: .whitespaces)
            guard !entity.isEmpty else { throw Invalid(message: "the pattern \"\(text)\" names no entity after ->") }
            do {
                return Pattern(regex: try NSRegularExpression(pattern: source), entity: entity)
            } catch {
                throw Invalid(message: "the pattern \"\(source)\" is not a valid regular expression")
            }
        }
        self.limit = limit
    }

    /// A setting that cannot be used.
    public struct Invalid: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The keys of the entities `text` mentions, in order of first mention, at most `limit`.
    public func entities(in text: String) -> [String] {
        guard !isEmpty else { return [] }
        var found: [(position: Int, key: String)] = []
        if !names.isEmpty {
            let words = Self.words(text)
            var i = 0
            while i < words.count {
                var matched = 1
                for candidate in names[words[i].word] ?? [] where candidate.words.count <= words.count - i {
                    if zip(candidate.words, words[i...]).allSatisfy({ $0 == $1.word }) {
                        found.append((words[i].offset, candidate.key))
                        matched = candidate.words.count
                        break
                    }
                }
                i += matched
            }
        }
        let ns = text as NSString
        for pattern in patterns {
            for match in pattern.regex.matches(in: text, range: NSRange(location: 0, length: ns.length)) where match.range.length > 0 {
                let key: String
                if pattern.entity.contains(":") {
                    key = pattern.regex.replacementString(for: match, in: text, offset: 0, template: pattern.entity)
                } else {
                    key = "\(pattern.entity):\(Self.normalised(ns.substring(with: match.range)))"
                }
                // Positions are UTF-16 offsets for names and matches alike; at equal offsets
                // a name comes first.
                found.append((match.range.location, key))
            }
        }
        var seen = Set<String>()
        var keys: [String] = []
        for (_, key) in found.enumerated().sorted(by: { ($0.element.position, $0.offset) < ($1.element.position, $1.offset) }).map(\.element)
        where seen.insert(key).inserted {
            keys.append(key)
            if keys.count == limit { break }
        }
        return keys
    }

    /// Lowercased, with each run of white space made one space.
    static func normalised(_ text: String) -> String {
        text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// The lowercased runs of letters and digits of `text`, with the UTF-16 offset of each.
    static func words(_ text: String) -> [(word: String, offset: Int)] {
        var out: [(String, Int)] = []
        var current = ""
        var start = 0, offset = 0
        for scalar in text.unicodeScalars {
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                if current.isEmpty { start = offset }
                current.unicodeScalars.append(scalar)
            } else if !current.isEmpty {
                out.append((current.lowercased(), start))
                current = ""
            }
            offset += scalar.utf16.count
        }
        if !current.isEmpty { out.append((current.lowercased(), start)) }
        return out
    }
}
