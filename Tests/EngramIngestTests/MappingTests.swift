import EngramBase
import EngramIngest
import EngramStore
import Foundation
import Testing

@Suite("Transactions and row mapping")
struct MappingTests {
    static func event(_ op: ChangeEvent.Operation, _ row: [String: JSONValue], tx: String? = nil, at index: UInt64 = 0) -> ChangeEvent {
        ChangeEvent(operation: op, table: "public.faults", before: op == .insert ? nil : row, after: op == .delete ? nil : row,
                    commitTime: 1_780_000_000, transaction: tx, position: SourcePosition(log: 0, index: index))
    }

    @Test("markers open and close a unit; ids group consecutive changes; single changes stand alone; the offset never splits a unit")
    func assembler() {
        var a = TransactionAssembler()
        let one = Self.event(.insert, ["id": .number(1)])
        #expect(a.add(.changes([one], endsTransaction: false), offset: 0, endOffset: 10).map(\.endOffset) == [10])
        #expect(a.add(.begin(transaction: "7"), offset: 10, endOffset: 20).isEmpty)
        #expect(a.add(.changes([one, one], endsTransaction: false), offset: 20, endOffset: 30).isEmpty)
        #expect(a.dead(.init(offset: 30, line: "{", error: "bad"), endOffset: 40).isEmpty)
        #expect(a.waiting)
        let committed = a.add(.commit(transaction: "7"), offset: 40, endOffset: 50)
        #expect(committed.count == 1 && committed[0].changes.count == 2 && committed[0].deadLetters.count == 1)
        #expect(committed[0].endOffset == 50 && committed[0].offsets == [20, 20] && committed[0].lines == 4)
        // Consecutive changes of one transaction id, ended by the next id or by the end.
        let t1 = Self.event(.update, ["id": .number(1)], tx: "8"), t2 = Self.event(.update, ["id": .number(2)], tx: "9")
        #expect(a.add(.changes([t1], endsTransaction: false), offset: 50, endOffset: 60).isEmpty)
        #expect(a.add(.ignored("a tombstone"), offset: 60, endOffset: 70).isEmpty)
        #expect(a.add(.changes([t1], endsTransaction: false), offset: 70, endOffset: 80).isEmpty)
        let closed = a.add(.changes([t2], endsTransaction: false), offset: 80, endOffset: 90)
        #expect(closed.map(\.changes.count) == [2] && closed[0].endOffset == 80)
        #expect(a.finish()?.endOffset == 90 && !a.waiting)
        // A begun transaction at the end of the input is not finished.
        _ = a.add(.begin(transaction: "10"), offset: 90, endOffset: 100)
        #expect(a.finish() == nil && a.waiting)
    }

    @Test("a mapped row: the template, the time column, tags, meta, a pgvector column, the id")
    func mapping() throws {
        let document = try SettingsDocument(parsing: """
            [ingest]
            format = "wal2json"
            [ingest.tables.faults]
            key = ["device_id", "id"]
            text = "{component}: {symptom}. Cause: {cause}"
            time = "reported_at"
            tags = ["fault"]
            meta = ["severity"]
            vector = "embedding"
            links = ["device_id -> devices AFFECTS", "site -> sites"]
            """)
        let settings = try IngestSettings(document)
        #expect(settings.format == .wal2json && settings.tables.map(\.name) == ["faults"])
        let row: [String: JSONValue] = ["id": .number(12), "device_id": .number(7), "component": .string("bearing"),
                                        "symptom": .string("overheating"), "cause": .null, "severity": .number(3),
                                        "reported_at": .string("2026-05-28 20:26:40+00"), "embedding": .string("[0.5, -1,2e-1]")]
        guard case let .upsert(m) = try settings.action(for: Self.event(.update, row)) else { Issue.record("not an upsert"); return }
        #expect(m.id == "faults:7,12" && m.namespace == "faults" && m.text == "bearing: overheating. Cause: ")
        #expect(settings.tables[0].targets(of: row).map { "\($0.relation) \($0.to)" } == ["AFFECTS devices:7"])
        #expect(settings.tables[0].links.last == LinkSpec(column: "site", table: "sites", relation: "REFERENCES"))
        #expect { try IngestSettings(SettingsDocument(parsing: "[ingest.tables.t]\nlinks = [\"a => b\"]")) } throws: {
            ($0 as? EngramError)?.reason == .invalidSettings && "\($0)".contains("COLUMN -> TABLE")
        }
        #expect(m.time == 1_780_000_000 && m.tags == ["fault"] && m.meta == ["severity": .number(3)] && m.vector == [0.5, -1, 0.2])
        // Templates: columns side by side, an empty name (no such column), a brace left open.
        var edges = TableMapping(name: "faults")
        for (template, text) in [("{component}{symptom}", "bearingoverheating"), ("{}x{severity}", "x3"),
                                 ("a {component} {symptom", "a bearing {symptom"), ("}{", "}{"), ("", "")] {
            edges.text = template
            #expect(edges.render(row, skipping: nil) == text, "template \"\(template)\"")
        }
        #expect(try settings.action(for: Self.event(.delete, row)) == .delete(id: "faults:7,12"))
        // Without a mapping: key "id", every column as text and meta, the commit time.
        let plain = IngestSettings()
        guard case let .upsert(p) = try plain.action(for: Self.event(.insert, ["id": .number(1), "b": .string("x"), "a": .null])) else { return }
        #expect(p.id == "faults:1" && p.text == "b: x; id: 1" && p.time == 1_780_000_000 && p.meta["a"] == .null)
        #expect { try plain.action(for: Self.event(.insert, ["name": .string("no key")])) } throws: { ($0 as? EngramError)?.reason == .malformedChange }
        var badVector = row
        badVector["embedding"] = .array([.number(1), .string("x")])
        #expect { try settings.action(for: Self.event(.insert, badVector)) } throws: { ($0 as? EngramError)?.reason == .malformedChange }
        #expect { try IngestSettings(SettingsDocument(parsing: "[ingest.tables.faults]\nkeys = [\"id\"]")) } throws: { ($0 as? EngramError)?.reason == .invalidSettings && "\($0)".contains("keys") }
        #expect { try IngestSettings(SettingsDocument(parsing: "[ingest]\nformat = \"csv\"")) } throws: {
            ($0 as? EngramError)?.reason == .invalidSettings
        }
    }

    @Test("times: ISO 8601, PostgreSQL's text, and seconds, milliseconds or microseconds since 1970")
    func times() throws {
        let cases: [(JSONValue, Double?)] = [(.string("2026-05-28T20:26:40Z"), 1_780_000_000), (.string("2026-05-28 22:26:40+02"), 1_780_000_000),
                                             (.number(1_780_000_000), 1_780_000_000), (.number(1_780_000_000_000), 1_780_000_000),
                                             (.number(1_780_000_000_000_000), 1_780_000_000), (.string("soon"), nil), (.bool(true), nil)]
        let settings = try! IngestSettings(SettingsDocument(parsing: "[ingest.tables.t]\ntime = \"at\""))
        for (value, expected) in cases {
            let e = ChangeEvent(operation: .insert, table: "t", after: ["id": .number(1), "at": value], position: SourcePosition(log: 0, index: 0))
            if let expected {
                guard case let .upsert(m) = try! settings.action(for: e) else { continue }
                #expect(m.time == expected, "\(value)")
            } else {
                #expect(throws: EngramError.self) { try settings.action(for: e) }
            }
        }
    }

    @Test("pgvector's text form: every number rounded exactly as strtof rounds it; malformed or non-finite lists refused")
    func pgvectorText() throws {
        let seed: UInt64 = 20_261_202
        print("pgvectorText seed \(seed)")
        var random = SeededRandom(seed: seed)
        let settings = try IngestSettings(SettingsDocument(parsing: "[ingest.tables.t]\nvector = \"v\"\ntext = \"x\""))
        func vector(_ text: String) throws -> [Float] {
            let e = ChangeEvent(operation: .insert, table: "t", after: ["id": .number(1), "v": .string(text)], position: SourcePosition(log: 0, index: 0))
            guard case let .upsert(m) = try settings.action(for: e) else { throw EngramError.invalidArgument("not an upsert") }
            return m.vector
        }
        // Numbers as pgvector and Python write them, plus long mantissas, exponents and
        // subnormals, where a fast reader could round differently from strtof; and plain
        // decimals of up to 16 digits near and at the points halfway between two floats,
        // where reading through a double could round differently (2^24 + 1 is one).
        for _ in 0..<200 {
            let numbers: [String] = (0..<384).map { _ in
                let x = Double.random(in: -1...1, using: &random) * pow(10, Double(Int.random(in: -40...38, using: &random)))
                let f = Float(Double.random(in: -1...1, using: &random) * pow(10, Double(Int.random(in: -3...9, using: &random))))
                let halfway = (Double(f) + Double(f.nextUp)) / 2
                switch Int.random(in: 0..<7, using: &random) {
                case 0: return String(format: "%.4f", x)
                case 1: return "\(Float(x))"
                case 2: return String(format: "%.17g", x)
                case 3: return String(format: "%.9e", x)
                case 4: return String(format: "%.*f", Int.random(in: 1...12, using: &random), Double(f))
                case 5: return String(format: "%.*g", Int.random(in: 8...16, using: &random), halfway)
                default: return String(format: "%.0f", Double(Int.random(in: 8_388_608...134_217_728, using: &random) | 1))
                }
            }
            let spaced = Bool.random(using: &random)
            let got = try vector("[" + numbers.joined(separator: spaced ? ", " : ",") + "]")
            let expected = numbers.map { strtof($0, nil) }
            #expect(got.map(\.bitPattern) == expected.map(\.bitPattern))
        }
        #expect(try vector("[]") == [])
        #expect(try vector(" [ 1 , -2.5e1 ] ") == [1, -25])
        for bad in ["[1,,2]", "[1,2,]", "[,1]", "[nan]", "[1,inf]", "[1e39]", "[1 2]", "[1", "1]", "[0x1p3]", "[1,a]"] {
            #expect("\(bad)") { try vector(bad) } throws: { ($0 as? EngramError)?.reason == .malformedChange }
        }
    }
}
