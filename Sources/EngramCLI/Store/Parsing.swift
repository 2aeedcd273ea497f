import ArgumentParser
import Engram
import Foundation

/// Parsing of the values users type: times, durations, vectors, key=value pairs. Each
/// failure is a `ValidationError` naming the option.
enum Parse {
    /// ISO 8601 with a zone (`2024-05-01T12:00:00Z`, `…+02:00`, fractional seconds allowed)
    /// or epoch seconds.
    static func time(_ text: String, field: String) throws -> Timestamp {
        do { return try Timestamp(parsing: text, field: field) } catch { throw ValidationError("\(error)") }
    }

    static func duration(_ text: String, field: String) throws -> TimeSpan {
        do { return try TimeSpan(parsing: text) } catch { throw ValidationError("\(field): \(error)") }
    }

    /// `0.1,0.2,…` (spaces allowed, optional brackets).
    static func vector(_ text: String) throws -> [Float] {
        let trimmed = text.trimmingCharacters(in: CharacterSet(charactersIn: "[] \n"))
        var out: [Float] = []
        for part in trimmed.split(separator: ",") {
            guard let v = Float(part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--vector: '\(part)' is not a number")
            }
            out.append(v)
        }
        guard !out.isEmpty else { throw ValidationError("--vector is empty") }
        return out
    }

    /// A JSON array of numbers in a file.
    static func vectorFile(_ path: String) throws -> [Float] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("--vector-file: cannot read \(path)") }
        guard let numbers = try? JSONDecoder().decode([Float].self, from: data) else {
            throw ValidationError("--vector-file: \(path) does not hold a JSON array of numbers")
        }
        return numbers
    }

    /// `key=value` with JSON-ish scalar values (numbers, true/false, null, else a string).
    static func keyValues(_ pairs: [String], option: String) throws -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for pair in pairs {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw ValidationError("\(option): expected key=value, got '\(pair)'")
            }
            out[String(pair[..<eq])] = JSONValue.parseScalar(String(pair[pair.index(after: eq)...]))
        }
        return out
    }
}

/// Filter options shared by `query` and `delete`.
struct FilterOptions: ParsableArguments {
    @Option(name: .customLong("ns"), help: "Only this namespace.")
    var namespace: String?

    @Option(name: .customLong("not-ns"), help: ArgumentHelp("Leave out this namespace (repeatable).", valueName: "namespace"))
    var notNamespaces: [String] = []

    @Option(name: .customLong("tag"), help: "Require this tag (repeatable: all must match).")
    var tags: [String] = []

    @Option(name: .customLong("any-tag"), help: "Require at least one of these tags (repeatable).")
    var anyTags: [String] = []

    @Option(name: .customLong("where"), help: ArgumentHelp("Require meta[key] == value (repeatable).", valueName: "key=value"))
    var whereClauses: [String] = []

    @Option(help: ArgumentHelp("Only memories whose time is at or after this (ISO 8601 or epoch seconds).", valueName: "time"))
    var since: String?

    @Option(help: ArgumentHelp("Only memories whose time is at or before this.", valueName: "time"))
    var until: String?

    @Option(name: .customLong("as-of"), help: ArgumentHelp("Answer as of this moment: only memories that existed then and had not expired.", valueName: "time"))
    var asOf: String?

    func request() throws -> FilterRequest {
        FilterRequest(namespace: namespace, tags: tags.isEmpty ? nil : tags, anyTags: anyTags.isEmpty ? nil : anyTags,
                      where: whereClauses.isEmpty ? nil : try Parse.keyValues(whereClauses, option: "--where"),
                      since: try since.map { try Parse.time($0, field: "--since") },
                      until: try until.map { try Parse.time($0, field: "--until") },
                      asOf: try asOf.map { try Parse.time($0, field: "--as-of") },
                      notNamespaces: notNamespaces.isEmpty ? nil : notNamespaces)
    }

    var isEmpty: Bool {
        namespace == nil && notNamespaces.isEmpty && tags.isEmpty && anyTags.isEmpty && whereClauses.isEmpty && since == nil && until == nil && asOf == nil
    }
}

/// Scoring options shared by `query` and `ask`: the weights, the half-life and the decay basis
/// (each defaulting to the database's engram.toml), and the moment ages are measured from.
struct ScoringOptions: ParsableArguments {
    @Option(name: .customLong("half-life"), help: ArgumentHelp("Recency half-life, e.g. 90m, 12h, 30d.", valueName: "duration"))
    var halfLife: String?

    @Option(name: .customLong("w-sim"), help: "Weight of similarity.")
    var wSim: Double?

    @Option(name: .customLong("w-time"), help: "Weight of recency.")
    var wTime: Double?

    @Option(name: .customLong("w-importance"), help: "Weight of importance.")
    var wImportance: Double?

    @Option(help: "Decay from the event time (time) or the last access (access).")
    var decay: DecayBasis?

    @Option(help: ArgumentHelp("Measure ages and expiry from this moment (default: the clock), for reproducible results.", valueName: "time"))
    var now: String?

    func validate() throws {
        for (name, value) in [("--w-sim", wSim), ("--w-time", wTime), ("--w-importance", wImportance)] {
            if let value, !(value.isFinite && value >= 0) { throw ValidationError("\(name) must be a finite number ≥ 0") }
        }
    }

    func request() throws -> ScoringRequest {
        ScoringRequest(wSim: wSim, wTime: wTime, wImportance: wImportance,
                       halfLife: try halfLife.map { try Parse.duration($0, field: "--half-life") }, decay: decay)
    }

    /// `--now`, parsed.
    func moment() throws -> Timestamp? { try now.map { try Parse.time($0, field: "--now") } }
}

/// Where a vector comes from: `--vector`, `--vector-file`, or text through the embedder.
struct VectorOptions: ParsableArguments {
    // Unconditional: a vector whose first number is negative (`--vector -0.5,0.2`) is a value,
    // not an option.
    @Option(parsing: .unconditional, help: ArgumentHelp("The vector, as comma-separated numbers.", valueName: "x,y,…"))
    var vector: String?

    @Option(name: .customLong("vector-file"), help: ArgumentHelp("A file holding the vector as a JSON array.", valueName: "file"))
    var vectorFile: String?

    func given() throws -> [Float]? {
        if vector != nil && vectorFile != nil { throw ValidationError("give --vector or --vector-file, not both") }
        if let vector { return try Parse.vector(vector) }
        if let vectorFile { return try Parse.vectorFile(vectorFile) }
        return nil
    }
}
