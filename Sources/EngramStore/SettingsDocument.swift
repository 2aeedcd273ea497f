import EngramBase
import TOMLKit

extension EngramError.Reason {
    /// `engram.toml` is not valid TOML, or a setting in it has the wrong type, an unknown
    /// name or a value outside its range.
    public static let invalidSettings = EngramError.Reason("INVALID_SETTINGS")
}

extension EngramError {
    /// An `invalidArgument` error about `engram.toml`, with reason `invalidSettings`.
    static func invalidSettings(_ message: String) -> EngramError {
        EngramError(.invalidArgument, "engram.toml: \(message)", reason: .invalidSettings)
    }
}

/// The text of `engram.toml`, parsed once, shared by the modules that keep settings in it.
///
/// Each module owns whole *sections*: the tables at the top of the document, written as a
/// `[name]` header or as an inline table `name = { … }`. A module reads its sections with
/// `section(_:)`, whose reader refuses the keys its owner does not read. (An array of tables,
/// `[[name]]`, counts as a section for `unclaimedSections(claimed:)`; there is no reader for
/// one yet.) The keys at the top level that are not sections (`format`) belong to the store
/// and are read with `topLevel`.
///
/// Sections no module owns are not an error here, because no one module knows them all. The
/// facade, which knows every module, passes the union of their sections (`StoreSettings.sections`
/// and those of the others) to `unclaimedSections(claimed:)` and reports what is left: a
/// misspelt `[scorng]` would otherwise be silently ignored.
///
/// A value type; safe to share between threads.
public struct SettingsDocument: Sendable {
    private let root: [String: SettingsValue]

    /// Parses `text` as TOML 1.0.
    ///
    /// - Throws: `EngramError` (`invalidArgument`, reason `invalidSettings`) giving the line
    ///   and column of a syntax error.
    public init(parsing text: String) throws {
        // The parser reads a C string: a NUL would silently end the document there.
        if let nul = text.utf8.firstIndex(of: 0) {
            let line = text.utf8[..<nul].filter { $0 == UInt8(ascii: "\n") }.count + 1
            throw EngramError.invalidSettings("line \(line): the file contains a NUL byte")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let at = error.source.begin
            throw EngramError.invalidSettings("line \(at.line), column \(at.column): \(error.description)")
        }
        root = SettingsValue.entries(of: table)
    }

    /// The keys at the top of the document that are not sections, such as `format`.
    public var topLevel: SettingsSection {
        SettingsSection(name: "", values: root.filter { !$0.value.isSection })
    }

    /// A reader of the section `[name]`; an empty reader (every key takes its default) when the
    /// document has no such section.
    ///
    /// - Throws: `EngramError` (`invalidArgument`, reason `invalidSettings`) when `name` is at
    ///   the top level but not a table (`store = 3`, or an array of tables `[[store]]`).
    public func section(_ name: String) throws -> SettingsSection {
        switch root[name] {
        case nil: return SettingsSection(name: name, values: [:])
        case let .table(values)?: return SettingsSection(name: name, values: values)
        case let value?: throw EngramError.invalidSettings("[\(name)] must be a table, not \(value.typeName)")
        }
    }

    /// The sections of the document whose names are not in `claimed`, sorted: settings that no
    /// module reads, such as a misspelt `[scorng]`.
    ///
    /// - Parameter claimed: every section any module owns, e.g. `StoreSettings.sections`
    ///   united with those of the other modules the facade opens.
    public func unclaimedSections(claimed: Set<String>) -> [String] {
        root.filter { $0.value.isSection && !claimed.contains($0.key) }.keys.sorted()
    }
}

/// The typed reader of one section of a `SettingsDocument`.
///
/// Each read names a key and the default used when the key is absent, checks the TOML type
/// and records the key as known. After reading every key it knows, the owner calls
/// `rejectUnknownKeys()`, which refuses the rest (typos, settings of a newer version).
/// Range checks are the owner's (`StoreSettings.validate()`).
///
/// Type errors are `EngramError` (`invalidArgument`, reason `invalidSettings`) naming the
/// section and the key: `engram.toml: [store] threads must be an integer, not a string`.
public struct SettingsSection: Sendable {
    /// The section's name, or "" for the top level of the document.
    public let name: String
    private let values: [String: SettingsValue]
    private var known: Set<String> = []

    init(name: String, values: [String: SettingsValue]) {
        self.name = name
        self.values = values
    }

    /// An integer (a TOML integer; `4.0` is refused).
    public mutating func integer(_ key: String, default fallback: Int) throws -> Int {
        switch value(key) {
        case nil: return fallback
        case let .integer(v)?: return v
        case let other?: throw typeError(key, "an integer", other)
        }
    }

    /// A number: a TOML float or integer. May be `inf` or `nan` (TOML allows both): range
    /// checks are the owner's.
    public mutating func number(_ key: String, default fallback: Double) throws -> Double {
        switch value(key) {
        case nil: return fallback
        case let .float(v)?: return v
        case let .integer(v)?: return Double(v)
        case let other?: throw typeError(key, "a number", other)
        }
    }

    /// `true` or `false`.
    public mutating func boolean(_ key: String, default fallback: Bool) throws -> Bool {
        switch value(key) {
        case nil: return fallback
        case let .boolean(v)?: return v
        case let other?: throw typeError(key, "true or false", other)
        }
    }

    /// `true`, `false`, or nil when absent (the owner's default then depends on other settings).
    public mutating func optionalBoolean(_ key: String) throws -> Bool? {
        switch value(key) {
        case nil: return nil
        case let .boolean(v)?: return v
        case let other?: throw typeError(key, "true or false", other)
        }
    }

    /// A string.
    public mutating func string(_ key: String, default fallback: String) throws -> String {
        switch value(key) {
        case nil: return fallback
        case let .string(v)?: return v
        case let other?: throw typeError(key, "a string", other)
        }
    }

    /// An array of strings.
    public mutating func strings(_ key: String, default fallback: [String]) throws -> [String] {
        switch value(key) {
        case nil: return fallback
        case let .array(elements)?:
            return try elements.map {
                guard case let .string(s) = $0 else { throw typeError(key, "an array of strings", $0) }
                return s
            }
        case let other?: throw typeError(key, "an array of strings", other)
        }
    }

    /// A table of strings (`[section.key]` with `"any name" = "a string"` lines); empty when
    /// absent.
    public mutating func stringTable(_ key: String) throws -> [String: String] {
        switch value(key) {
        case nil: return [:]
        case let .table(entries)?:
            return try entries.mapValues {
                guard case let .string(s) = $0 else { throw typeError(key, "a table of strings", $0) }
                return s
            }
        case let other?: throw typeError(key, "a table of strings", other)
        }
    }

    /// The sub-tables of the table `key` (`[section.key.NAME]`), by name; empty when absent.
    /// Each is read (and its unknown keys refused) by its owner.
    public mutating func tables(_ key: String) throws -> [String: SettingsSection] {
        switch value(key) {
        case nil: return [:]
        case let .table(entries)?:
            var out: [String: SettingsSection] = [:]
            for (name, entry) in entries {
                guard case let .table(values) = entry else { throw typeError("\(key).\(name)", "a table", entry) }
                out[name] = SettingsSection(name: "\(self.name).\(key).\(name)", values: values)
            }
            return out
        case let other?: throw typeError(key, "a table of tables", other)
        }
    }

    /// One of the raw values of `Choice`, written as a string.
    public mutating func choice<Choice: RawRepresentable & CaseIterable>(
        _ key: String, default fallback: Choice
    ) throws -> Choice where Choice.RawValue == String {
        let text = try string(key, default: fallback.rawValue)
        guard let choice = Choice(rawValue: text) else {
            let names = Choice.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw EngramError.invalidSettings("\(label(key)) must be one of \(names), not \"\(text)\"")
        }
        return choice
    }

    /// A duration in seconds: a string in `DurationText` form (`"30d"`, `"12h"`), or a number
    /// of seconds. Not range-checked beyond what `DurationText.parse` refuses.
    public mutating func duration(_ key: String, default fallback: Double) throws -> Double {
        switch value(key) {
        case nil: return fallback
        case let .string(text)?:
            do { return try DurationText.parse(text) } catch let error as EngramError {
                throw EngramError.invalidSettings("\(label(key)): \(error.message)")
            }
        case let .float(v)?: return v
        case let .integer(v)?: return Double(v)
        case let other?: throw typeError(key, "a duration such as \"30d\"", other)
        }
    }

    /// Refuses every key of the section not read so far.
    ///
    /// - Throws: `EngramError` (`invalidArgument`, reason `invalidSettings`) naming the
    ///   unknown keys and the known ones.
    public func rejectUnknownKeys() throws {
        let unknown = Set(values.keys).subtracting(known).sorted()
        guard !unknown.isEmpty else { return }
        let place = name.isEmpty ? "at the top level" : "in [\(name)]"
        let names = unknown.map { "'\($0)'" }.joined(separator: ", ")
        throw EngramError.invalidSettings(
            "unknown key\(unknown.count == 1 ? "" : "s") \(names) \(place) (known: \(known.sorted().joined(separator: ", ")))")
    }

    /// The value of `key`, recording the key as known.
    private mutating func value(_ key: String) -> SettingsValue? {
        known.insert(key)
        return values[key]
    }

    /// How messages name `key`: `[store] threads`, or `format` at the top level.
    private func label(_ key: String) -> String { name.isEmpty ? key : "[\(name)] \(key)" }

    private func typeError(_ key: String, _ expected: String, _ found: SettingsValue) -> EngramError {
        EngramError.invalidSettings("\(label(key)) must be \(expected), not \(found.typeName)")
    }
}

/// A TOML value, copied out of the parser's tree so that documents are plain Swift values.
enum SettingsValue: Sendable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    /// A date, time or date-time (no setting uses them yet).
    case dateTime
    case array([SettingsValue])
    case table([String: SettingsValue])

    init(_ value: TOMLValueConvertible) {
        switch value.type {
        case .string: self = .string(value.string ?? "")
        case .int: self = .integer(value.int ?? 0)
        case .double: self = .float(value.double ?? .nan)
        case .bool: self = .boolean(value.bool ?? false)
        case .date, .time, .dateTime: self = .dateTime
        case .array: self = .array(value.array.map { $0.map(SettingsValue.init) } ?? [])
        case .table: self = .table(value.table.map(Self.entries(of:)) ?? [:])
        }
    }

    /// The entries of a parsed table, copied.
    static func entries(of table: TOMLTable) -> [String: SettingsValue] {
        var entries: [String: SettingsValue] = [:]
        for (key, element) in table { entries[key] = SettingsValue(element) }
        return entries
    }

    /// Whether this top-level value is a section: a table, or a non-empty array of tables.
    var isSection: Bool {
        switch self {
        case .table: return true
        case let .array(elements):
            return !elements.isEmpty && elements.allSatisfy { if case .table = $0 { true } else { false } }
        default: return false
        }
    }

    /// The type, as messages name it ("not a string").
    var typeName: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a floating-point number"
        case .boolean: return "a boolean"
        case .dateTime: return "a date or time"
        case .array: return "an array"
        case .table: return "a table"
        }
    }
}
