import EngramBase
import EngramIngest
import EngramStore
import Foundation
import Testing

func parse(_ format: LogFormat, _ line: String, offset: UInt64 = 0) throws -> LogRecord {
    try LogParser(format: format).parse(Array(line.utf8), offset: offset)
}

func changes(_ record: LogRecord) -> [ChangeEvent] {
    if case let .changes(events, _) = record { return events }
    return []
}

@Suite("Change-log formats")
struct ParserTests {
    @Test("Debezium: the payload wrapper, snapshot reads, deletes, tombstones, truncates, markers, MySQL positions")
    func debezium() throws {
        let wrapped = #"{"schema":{"type":"struct"},"payload":{"before":null,"after":{"id":7,"name":"PUMP-7"},"source":{"db":"maint","schema":"public","table":"devices","txId":12,"lsn":4294967297,"ts_ms":1780000000000},"op":"r","ts_ms":1}}"#
        let e = try #require(changes(try parse(.debezium, wrapped)).first)
        #expect(e.operation == .insert && e.table == "public.devices" && e.after?["name"] == .string("PUMP-7"))
        #expect(e.position == SourcePosition(log: 4_294_967_297, index: 0) && e.commitTime == 1_780_000_000 && e.transaction == "12")
        let delete = #"{"before":{"id":7},"after":null,"source":{"table":"devices","lsn":5},"op":"d"}"#
        let d = try #require(changes(try parse(.debezium, delete)).first)
        #expect(d.operation == .delete && d.before?["id"] == .number(7) && d.after == nil && d.table == "devices")
        #expect(try parse(.debezium, "null") == .ignored("a tombstone (null value)"))
        if case .ignored = try parse(.debezium, #"{"op":"t","source":{"table":"x"},"before":null,"after":null}"#) {} else { Issue.record("truncate") }
        #expect(try parse(.debezium, #"{"status":"BEGIN","id":"571:53195829","event_count":null}"#) == .begin(transaction: "571:53195829"))
        #expect(try parse(.debezium, #"{"status":"END","id":"571:53195829","event_count":2}"#) == .commit(transaction: "571:53195829"))
        let mysql = #"{"after":{"id":1},"source":{"table":"t","db":"shop","file":"mysql-bin.000003","pos":1540,"row":2},"op":"u","before":{"id":1}}"#
        #expect(changes(try parse(.debezium, mysql)).first?.position == SourcePosition(log: 3 << 32 | 1540, index: 2))
        #expect(changes(try parse(.debezium, #"{"after":{"id":1},"source":{"table":"t"},"op":"c"}"#, offset: 99)).first?.position
            == SourcePosition(log: 0, index: 99))
        for bad in [#"{"op":"x","source":{"table":"t"},"after":{}}"#, #"{"op":"c","source":{"table":"t"},"after":null,"before":null}"#, "[1]", "{"] {
            #expect { try parse(.debezium, bad) } throws: { ($0 as? EngramError)?.reason == .malformedChange }
        }
    }

    @Test("wal2json 2: markers, key from pk or identity, LSN positions; wal2json 1: a transaction per line")
    func wal2json() throws {
        #expect(try parse(.wal2json, #"{"action":"B","xid":501}"#) == .begin(transaction: "501"))
        #expect(try parse(.wal2json, #"{"action":"C","xid":501}"#) == .commit(transaction: "501"))
        let update = #"{"action":"U","schema":"public","table":"faults","lsn":"16/B374D848","timestamp":"2026-05-28 20:26:40.5+00","columns":[{"name":"id","type":"integer","value":1},{"name":"status","type":"text","value":"closed"}],"identity":[{"name":"id","type":"integer","value":1}]}"#
        let u = try #require(changes(try parse(.wal2json, update)).first)
        #expect(u.operation == .update && u.table == "public.faults" && u.key == ["id": .number(1)])
        #expect(u.position == SourcePosition(log: 0x16_B374_D848, index: 0) && u.commitTime == 1_780_000_000.5)
        #expect(u.after?["status"] == .string("closed"))
        let v1 = #"{"xid":9,"nextlsn":"0/20","change":[{"kind":"insert","schema":"s","table":"t","columnnames":["id","a"],"columntypes":["int","text"],"columnvalues":[1,"x"]},{"kind":"delete","schema":"s","table":"t","oldkeys":{"keynames":["id"],"keytypes":["int"],"keyvalues":[2]}}]}"#
        guard case let .changes(events, ends) = try parse(.wal2json, v1) else { Issue.record("not changes"); return }
        #expect(ends && events.map(\.operation) == [.insert, .delete] && events.map(\.position.index) == [0, 1])
        #expect(events[1].key == ["id": .number(2)] && events[0].after == ["id": .number(1), "a": .string("x")])
        #expect { try parse(.wal2json, #"{"change":[{"kind":"insert","table":"t","columnnames":["a"],"columnvalues":[]}]}"#) } throws: {
            ($0 as? EngramError)?.reason == .malformedChange
        }
        #expect(SourcePosition.parseLSN("16/B374D848") == 0x16_B374_D848 && SourcePosition.parseLSN("16") == nil)
    }

    @Test("Maxwell: the row before an update, commit flags, binlog positions")
    func maxwell() throws {
        let line = #"{"database":"maint","table":"faults","type":"update","ts":1780000000,"xid":8,"xoffset":1,"position":"master.000002:4410","data":{"id":1,"status":"closed","cause":"dust"},"old":{"status":"open"},"primary_key_columns":["id"]}"#
        guard case let .changes(events, ends) = try parse(.maxwell, line), let e = events.first else { Issue.record("not changes"); return }
        #expect(!ends && e.table == "maint.faults" && e.before == ["id": .number(1), "status": .string("open"), "cause": .string("dust")])
        #expect(e.position == SourcePosition(log: 2 << 32 | 4410, index: 1) && e.key == ["id": .number(1)])
        guard case let .changes(_, commits) = try parse(.maxwell, line.replacingOccurrences(of: #""xoffset":1"#, with: #""commit":true"#)) else { return }
        #expect(commits)
        if case .ignored = try parse(.maxwell, #"{"database":"maint","table":"t","type":"table-alter"}"#) {} else { Issue.record("ddl") }
    }

    @Test("Engram lines: upserts and deletes of memories, ordered by seq or by offset")
    func engram() throws {
        let e = try #require(changes(try parse(.engram, #"{"id":"m1","text":"hi","seq":4}"#, offset: 10)).first)
        #expect(e.operation == .update && e.position == SourcePosition(log: 4, index: 0) && e.after?["seq"] == nil)
        let d = try #require(changes(try parse(.engram, #"{"id":"m1","op":"delete"}"#, offset: 10)).first)
        #expect(d.operation == .delete && d.position == SourcePosition(log: 0, index: 10))
        for bad in [#"{"text":"no id"}"#, #"{"id":"m1","op":"merge"}"#, #"{"id":"m1","seq":-1}"#] {
            #expect { try parse(.engram, bad) } throws: { ($0 as? EngramError)?.reason == .malformedChange }
        }
    }

    @Test("formats are told apart by their first line")
    func detect() throws {
        func detect(_ line: String) -> LogFormat? { try? LogParser.detect(Array(line.utf8)) }
        #expect(detect(#"{"payload":{"op":"c","after":{},"source":{}}}"#) == .debezium)
        #expect(detect(#"{"action":"B","xid":1}"#) == .wal2json)
        #expect(detect(#"{"xid":1,"change":[]}"#) == .wal2json)
        #expect(detect(#"{"database":"d","table":"t","type":"insert","data":{}}"#) == .maxwell)
        #expect(detect(#"{"id":"m1","text":"x"}"#) == .engram)
        #expect(detect(#"{"hello":1}"#) == nil)
    }

    @Test("positions order by log position, then index, and round-trip through their bytes in the same order")
    func positions() {
        let a = SourcePosition(log: 1, index: 900), b = SourcePosition(log: 2, index: 0), c = SourcePosition(log: 2, index: 1)
        #expect(a < b && b < c && !(c < c))
        #expect(a.bytes.lexicographicallyPrecedes(b.bytes) && b.bytes.lexicographicallyPrecedes(c.bytes))
        #expect(SourcePosition(bytes: c.bytes) == c && SourcePosition(bytes: [1, 2]) == nil)
    }
}
