import Engram
import EngramServer
import Foundation
import Testing

@Suite("Socket API: calls answered on the event loop")
struct InlineCallTests {
    static func withService(_ body: (EngramService) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-inline-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var settings = StoreSettings()
        settings.dimension = 4
        settings.sync = false
        let db = try EngramDatabase.create(at: dir.appendingPathComponent("db"), settings: settings)
        defer { try? db.close() }
        _ = try await db.upsert(UpsertRequest(memories: [
            MemoryInput(id: "a", text: "PUMP-7 ground loudly", vector: [1, 0, 0, 0]),
            MemoryInput(id: "b", text: "VALVE-3 leaked", vector: [0, 1, 0, 0]),
        ]))
        try await body(EngramService(database: db, models: Models(path: nil)) {})
    }

    static func object(_ data: Data?) throws -> [String: Any] {
        let data = try #require(data)
        return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("a Query by vector, a Get and a Health check are answered as the task path answers them; errors keep their codes")
    func answered() async throws {
        try await Self.withService { service in
            let query: [String: JSONValue] = ["vector": .array([.number(0.9), .number(0.1), .number(0), .number(0)]), "k": .number(2)]
            let inline = try Self.object(try service.callInline(.memoryQuery, params: query, maxK: 100))
            let task = try Self.object(try await service.call(.memoryQuery, params: query) { _ in })
            let ids = { (o: [String: Any]) in (o["results"] as? [[String: Any]])?.map { $0["id"] as? String } }
            #expect(ids(inline) == ["a", "b"] && ids(inline) == ids(task))
            let scores = { (o: [String: Any]) in (o["results"] as? [[String: Any]])?.map { $0["score"] as? Double } }
            #expect(scores(inline) == scores(task))
            let got = try Self.object(try service.callInline(.memoryGet, params: ["id": .string("b")], maxK: 100))
            #expect(got["text"] as? String == "VALVE-3 leaked")
            #expect(try Self.object(try service.callInline(.healthCheck, params: [:], maxK: 100))["status"] as? String == "SERVING")
            #expect { try service.callInline(.memoryGet, params: ["id": .string("nope")], maxK: 100) } throws: {
                ($0 as? EngramError)?.code == .notFound
            }
            #expect { try service.callInline(.memoryQuery, params: ["vector": .array([.number(1)]), "k": .number(1)], maxK: 100) } throws: {
                ($0 as? EngramError)?.code == .invalidArgument
            }
        }
    }

    @Test("a Query with text, graph hops, access times to write or k above the bound, and every other method, are left to their task, with nothing done")
    func leftToTasks() async throws {
        try await Self.withService { service in
            let vector: JSONValue = .array([.number(1), .number(0), .number(0), .number(0)])
            let upsert: [String: JSONValue] = ["memories": .array([.object(["id": .string("c"), "vector": vector])])]
            let cases: [(RPCMethod, [String: JSONValue], maxK: Int)] = [
                (.memoryQuery, ["text": .string("pump"), "mode": .string("text")], 100),
                (.memoryQuery, ["vector": vector, "text": .string("pump")], 100),
                (.memoryQuery, ["vector": vector, "k": .number(101)], 100),
                (.memoryQuery, ["vector": vector, "k": .number(5)], 4),
                (.memoryQuery, ["vector": vector], 9),  // k defaults to 10
                (.memoryQuery, ["vector": vector, "touch": .bool(true)], 100),
                (.memoryQuery, ["vector": vector, "graphHops": .number(1)], 100),
                (.memoryUpsert, upsert, 100),
                (.memoryDelete, ["ids": .array([.string("a")])], 100),
                (.memoryStats, [:], 100),
            ]
            for (method, params, maxK) in cases {
                let left = try service.callInline(method, params: params, maxK: maxK) == nil
                #expect(left, "\(method) \(params) with inline_max_k \(maxK)")
            }
            // Nothing was written by the calls left over.
            #expect(service.database.count() == 2)
        }
    }

    @Test("[server] inline_max_k: 100 by default, 0 turns it off, out of range refused naming the key")
    func setting() throws {
        #expect(try ServerSettings(SettingsDocument(parsing: "")).inlineMaxK == 100)
        #expect(try ServerSettings(SettingsDocument(parsing: "[server]\ninline_max_k = 0\n")).inlineMaxK == 0)
        for bad in ["-1", "10001"] {
            #expect { try ServerSettings(SettingsDocument(parsing: "[server]\ninline_max_k = \(bad)\n")) } throws: {
                ($0 as? EngramError)?.code == .invalidArgument && "\($0)".contains("inline_max_k must be between 0 and 10000")
            }
        }
    }
}
