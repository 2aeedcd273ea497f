import EngramBase
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// A blocking client of engramd's Unix socket: writes raw bytes, reads answer lines.
final class SocketClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
        fd = try UnixSocket.connect(path: path)
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// A TCP connection to 127.0.0.1:`port`.
    init(tcpPort port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw SocketError(message: "connect to port \(port): \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// A TCP port free now on 127.0.0.1.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 ? getsockname(fd, $0, &length) : -1 }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }

    struct SocketError: Error { let message: String }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw SocketError(message: "send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    func send(_ line: String) throws { try send(Array((line + "\n").utf8)) }

    /// The next answer line as a JSON object.
    func answer() throws -> [String: Any] {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                    throw SocketError(message: "not an object: \(String(decoding: line, as: UTF8.self))")
                }
                return object
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw SocketError(message: "the connection ended (\(n))") }
            buffer += chunk[..<n]
        }
    }

    /// Sends `request` and returns the first answer with its id (answers to other calls are
    /// passed over).
    func call(_ request: [String: Any]) throws -> [String: Any] {
        try send(String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self))
        return try answer(to: request["id"]!)
    }

    /// The next answer to the call `id`, passing over the others.
    func answer(to id: Any) throws -> [String: Any] {
        while true {
            let a = try answer()
            if "\(a["id"] ?? "null")" == "\(id)" { return a }
        }
    }
}

extension [String: Any] {
    var errorCode: String? { (self["error"] as? [String: Any])?["code"] as? String }
    var errorMessage: String { (self["error"] as? [String: Any])?["message"] as? String ?? "" }
    var result: [String: Any]? { self["result"] as? [String: Any] }
}

/// engramd's socket API on a real socket: every method, streaming and its cancellation,
/// multiplexing, deadlines, permissions, and hostile input.
@Suite("engramd socket API")
struct SocketAPITests {
    /// A database of 4-dimensional vectors (nothing embedded) with a small frame limit, and
    /// engramd serving it.
    static func withDaemon(_ body: (String, String) throws -> Void) throws {
        try withDaemon { db, path, _ in try body(db, path) }
    }

    /// `server` is added to the `[server]` section; `frameBytes` is its `max_frame_bytes`.
    static func withDaemon(server: String = "", frameBytes: Int = 4096, _ body: (String, String, Process) throws -> Void) throws {
        try withTempDir { dir in
            let db = dir.appendingPathComponent("db").path
            #expect(try CLI.run(["init", "--db", db, "--dim", "4"]).status == 0)
            let toml = URL(fileURLWithPath: db).appendingPathComponent("engram.toml")
            try (String(contentsOf: toml, encoding: .utf8) + "\n[server]\nmax_frame_bytes = \(frameBytes)\nmax_depth = 32\nmax_calls_per_connection = 4\n" + server)
                .write(to: toml, atomically: true, encoding: .utf8)
            let daemon = Process()
            daemon.executableURL = CLI.binDirectory.appendingPathComponent("engramd")
            daemon.arguments = ["--db", db]
            daemon.standardOutput = FileHandle.nullDevice
            daemon.standardError = FileHandle.nullDevice
            try daemon.run()
            defer { if daemon.isRunning { daemon.terminate(); daemon.waitUntilExit() } }
            let socket = db + "/run/engramd.sock"
            let deadline = Date().addingTimeInterval(30)
            while !FileManager.default.fileExists(atPath: socket) && Date() < deadline && daemon.isRunning { Thread.sleep(forTimeInterval: 0.02) }
            try body(db, socket, daemon)
            daemon.terminate()
            daemon.waitUntilExit()
            #expect(daemon.terminationStatus == 0)
        }
    }

    static var memories: [[String: Any]] { [
        ["id": "a", "text": "PUMP-7 ground loudly", "vector": [1, 0, 0, 0], "tags": ["pump"]],
        ["id": "b", "text": "VALVE-3 leaked", "vector": [0, 1, 0, 0]],
        ["id": "c", "text": "the canteen menu", "vector": [0, 0, 1, 0]],
    ] }

    /// A question answered by the real model (text retrieval: nothing embedded) whose answer
    /// runs to its 200 tokens (test_grpc.py checks it does), so that its stream is still
    /// running well after its first piece.
    static var longAsk: [String: Any] {
        ["question": "Write a very long story about PUMP-7, at least 500 words.", "mode": "text", "maxTokens": 200, "cache": false, "temperature": 0]
    }

    @Test("the memory, graph, ingest, health and admin methods answer as the facade; errors carry gRPC codes; the socket is private")
    func methods() throws {
        try Self.withDaemon { db, path in
            let c = try SocketClient(path: path)
            #expect(try c.call(["id": 1, "method": "engram.v1.Health/Check"]).result?["status"] as? String == "SERVING")
            let upserted = try c.call(["id": 2, "method": "engram.v1.Memory/Upsert", "params": ["memories": Self.memories]])
            #expect(upserted.result?["ids"] as? [String] == ["a", "b", "c"])
            let query = try c.call(["id": 3, "method": "engram.v1.Memory/Query", "params": ["vector": [0.9, 0.1, 0, 0], "k": 2, "mode": "vector"]])
            #expect((query.result?["results"] as? [[String: Any]])?.map { $0["id"] as? String } == ["a", "b"])
            #expect(try c.call(["id": 4, "method": "engram.v1.Memory/Get", "params": ["id": "b"]]).result?["text"] as? String == "VALVE-3 leaked")
            #expect(try c.call(["id": 5, "method": "engram.v1.Memory/Stats"]).result?["memories"] as? Int == 3)
            #expect(try c.call(["id": 6, "method": "engram.v1.Graph/Stats"]).result?["edges"] as? Int == 0)
            #expect((try c.call(["id": 7, "method": "engram.v1.Graph/Entity", "params": ["entity": "devices:1"]]).result?["edges"] as? [Any])?.isEmpty == true)
            #expect(try c.call(["id": 8, "method": "engram.v1.Graph/Path", "params": ["from": "a", "to": "b"]]).result?["edges"] == nil)
            #expect((try c.call(["id": 9, "method": "engram.v1.Ingest/Status"]).result?["sources"] as? [Any])?.isEmpty == true)
            #expect((try c.call(["id": 10, "method": "engram.v1.Ingest/Errors", "params": ["limit": 5]]).result?["deadLetters"] as? [Any])?.isEmpty == true)
            #expect(try c.call(["id": 11, "method": "engram.v1.Admin/Compact"]).result?["memories"] as? Int == 3)
            // Export streams one message per memory, then OK.
            try c.send(#"{"id":12,"method":"engram.v1.Memory/Export"}"#)
            var exported: [String] = []
            while true {
                let a = try c.answer()
                if let m = a["message"] as? [String: Any] { exported.append(m["id"] as! String) } else {
                    #expect((a["status"] as? [String: Any])?["code"] as? String == "OK")
                    break
                }
            }
            #expect(exported.sorted() == ["a", "b", "c"])
            #expect(try c.call(["id": 13, "method": "engram.v1.Memory/Delete", "params": ["ids": ["c"]]]).result?["deleted"] as? Int == 1)
            // Errors: the facade's codes, the call's id.
            let missing = try c.call(["id": 14, "method": "engram.v1.Memory/Get", "params": ["id": "c"]])
            #expect(missing["id"] as? Int == 14 && missing.errorCode == "NOT_FOUND")
            #expect(try c.call(["id": 15, "method": "engram.v1.Memory/Query", "params": ["vector": [1, 0], "k": 1]]).errorCode == "INVALID_ARGUMENT")
            #expect(try c.call(["id": 17, "method": "engram.v1.Graph/Entity", "params": ["entity": "a", "depth": 99]]).errorCode == "INVALID_ARGUMENT")
            // engramd reads files named by absolute paths only (its working directory is not the caller's).
            let relativeImport = try c.call(["id": 18, "method": "engram.v1.Ingest/Import", "params": ["path": "notes.jsonl"]])
            #expect(relativeImport.errorCode == "INVALID_ARGUMENT" && relativeImport.errorMessage.contains("params.path must be absolute"))
            let relativeWatch = try c.call(["id": 19, "method": "engram.v1.Ingest/Watch", "params": ["paths": ["/tmp/x.log", "cdc"]]])
            #expect(relativeWatch.errorCode == "INVALID_ARGUMENT" && relativeWatch.errorMessage.contains("params.paths must be absolute"))
            // The directory only its owner may enter; the socket only its owner may use.
            let dirMode = try FileManager.default.attributesOfItem(atPath: db + "/run")[.posixPermissions] as? Int
            let socketMode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(dirMode == 0o700 && socketMode == 0o600)
        }
    }

    @Test("a Query and a Get on lines longer than the event loop reads (64 KiB) are answered by their task as the short lines are")
    func longLines() throws {
        try Self.withDaemon(frameBytes: 1 << 20) { _, path, _ in
            let c = try SocketClient(path: path)
            #expect(try c.call(["id": 1, "method": "engram.v1.Memory/Upsert", "params": ["memories": Self.memories]]).result != nil)
            let query = #"{"id":ID,"method":"engram.v1.Memory/Query","params":{"vector":[0.9,0.1,0,0],"k":2,"mode":"vector"}"#
            let get = #"{"id":ID,"method":"engram.v1.Memory/Get","params":{"id":"b"}"#
            // The same request, closed at once or after 100,000 spaces (JSON whitespace).
            let padding = String(repeating: " ", count: 100_000)
            for (id, line) in [(2, query + "}"), (3, query + padding + "}"), (4, get + "}"), (5, get + padding + "}")] {
                let text = line.replacingOccurrences(of: "ID", with: "\(id)")
                #expect((text.utf8.count > 64 << 10) == (id == 3 || id == 5))
                try c.send(text)
                let answer = try c.answer(to: id)
                if line.hasPrefix(query) {
                    #expect((answer.result?["results"] as? [[String: Any]])?.map { $0["id"] as? String } == ["a", "b"], "line of \(text.utf8.count) bytes")
                } else {
                    #expect(answer.result?["text"] as? String == "VALVE-3 leaked", "line of \(text.utf8.count) bytes")
                }
            }
        }
    }

    @Test("requests multiplex by id on one connection; a duplicate id in flight, a deadline and a cancelled stream get their codes")
    func multiplexing() throws {
        try Self.withDaemon { _, path in
            let c = try SocketClient(path: path)
            _ = try c.call(["id": 0, "method": "engram.v1.Memory/Upsert", "params": ["memories": Self.memories]])
            // Three requests before reading: each answer carries its own id.
            try c.send(#"{"id":"x","method":"engram.v1.Memory/Get","params":{"id":"a"}}"# + "\n"
                       + #"{"id":"y","method":"engram.v1.Memory/Get","params":{"id":"b"}}"# + "\n"
                       + #"{"id":"z","method":"engram.v1.Memory/Get","params":{"id":"nope"}}"#)
            var byId: [String: [String: Any]] = [:]
            for _ in 0..<3 {
                let a = try c.answer()
                byId[a["id"] as! String] = a
            }
            #expect(byId["x"]?.result?["text"] as? String == "PUMP-7 ground loudly")
            #expect(byId["y"]?.result?["text"] as? String == "VALVE-3 leaked" && byId["z"]?.errorCode == "NOT_FOUND")
            // 200 decoding steps take far longer than 50 ms: the deadline passes, and the stream
            // is still running when it is cancelled after its first piece.
            let ask = Self.longAsk
            let late = try c.call(["id": "d", "method": "engram.v1.RAG/Ask", "params": ask, "deadlineMs": 50])
            #expect(late.errorCode == "DEADLINE_EXCEEDED", "\(late)")
            // A stream cancelled after its first piece ends with CANCELLED; a second call under
            // the id of one in flight is refused.
            try c.send(String(decoding: try JSONSerialization.data(withJSONObject: ["id": "s", "method": "engram.v1.RAG/Ask", "params": ask]), as: UTF8.self))
            let first = try c.answer(to: "s")
            #expect((first["message"] as? [String: Any])?["text"] is String, "\(first)")
            #expect(try c.call(["id": "s", "method": "engram.v1.Memory/Stats"]).errorCode == "ALREADY_EXISTS")
            #expect(try c.call(["id": "s", "method": "engram.v1.Memory/Get", "params": ["id": "a"]]).errorCode == "ALREADY_EXISTS")
            #expect(try c.call(["id": "k", "method": "engram.v1.Control/Cancel", "params": ["id": "s"]]).result?["cancelled"] as? Bool == true)
            var end = try c.answer(to: "s")
            while end["message"] != nil { end = try c.answer(to: "s") }
            #expect(end.errorCode == "CANCELLED")
            // Cancel naming a call that is not running cancels nothing.
            #expect(try c.call(["id": "k2", "method": "engram.v1.Control/Cancel", "params": ["id": "gone"]]).result?["cancelled"] as? Bool == false)
            #expect(try c.call(["id": "after", "method": "engram.v1.Health/Check"]).result?["status"] as? String == "SERVING")
        }
    }

    @Test("Query calls read together, from one connection's write and from two connections, are answered together, each as when sent alone")
    func queriesTogether() throws {
        try Self.withDaemon { _, path in
            let c = try SocketClient(path: path), other = try SocketClient(path: path)
            _ = try c.call(["id": 0, "method": "engram.v1.Memory/Upsert", "params": ["memories": Self.memories]])
            // Eleven queries and one that fails on a connection: more than a group of
            // `QueryBatch.maxQueries` (8) if its loop reads them in one turn.
            let vectors: [[Double]] = [[1, 0.2, 0, 0], [0, 1, 0.5, 0], [0.3, 0.3, 1, 0], [1, 1, 1, 0], [0, 0, 0.1, 1],
                                       [0.5, 0, 0, 1], [0, 0.7, 0, 0.2], [0.1, 0, 0.9, 0], [1, 0, 1, 0], [0, 1, 1, 1], [0.2, 0.9, 0.1, 0]]
            func line(_ id: String, _ method: String, _ params: [String: Any]) throws -> String {
                String(decoding: try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": params]), as: UTF8.self)
            }
            func query(_ i: Int) -> [String: Any] { ["vector": vectors[i], "k": 1 + i % 3] }
            // Queries with a Get and a Query of the wrong dimension between them, in one write
            // on each connection.
            func lines(_ prefix: String) throws -> [UInt8] {
                var lines = try vectors.indices.map { try line("\(prefix)\($0)", "engram.v1.Memory/Query", query($0)) }
                lines.insert(try line("\(prefix)bad", "engram.v1.Memory/Query", ["vector": [1, 0], "k": 2]), at: 2)
                lines.insert(try line("\(prefix)get", "engram.v1.Memory/Get", ["id": "b"]), at: 4)
                return Array((lines.joined(separator: "\n") + "\n").utf8)
            }
            try c.send(try lines("c"))
            try other.send(try lines("o"))
            var together: [String: [String: Any]] = [:]
            for client in [c, other] {
                for _ in 0..<vectors.count + 2 {
                    let a = try client.answer()
                    together[a["id"] as! String] = a
                }
            }
            let hits = { (a: [String: Any]?) in (a?.result?["results"] as? [[String: Any]])?.map { "\($0["id"] ?? "") \($0["score"] ?? "")" } }
            for i in vectors.indices {
                let alone = try c.call(["id": "alone\(i)", "method": "engram.v1.Memory/Query", "params": query(i)])
                #expect(hits(alone)?.count == 1 + i % 3, "\(alone)")
                for prefix in ["c", "o"] { #expect(hits(together["\(prefix)\(i)"]) == hits(alone), "\(prefix)\(i)") }
            }
            for prefix in ["c", "o"] {
                #expect(together["\(prefix)bad"]?.errorCode == "INVALID_ARGUMENT", "\(together["\(prefix)bad"] ?? [:])")
                #expect(together["\(prefix)get"]?.result?["text"] as? String == "VALVE-3 leaked")
            }
        }
    }

    @Test("hostile input: malformed JSON, invalid UTF-8, an overlong line, deep nesting, wrong types, NaN, unknown methods; the connection then serves normally")
    func hostileInput() throws {
        try Self.withDaemon { _, path in
            let c = try SocketClient(path: path)
            func expectError(_ bytes: [UInt8], code: String, containing fragment: String, id: Any? = nil) throws {
                try c.send(bytes + [0x0A])
                let a = try c.answer()
                #expect(a.errorCode == code && a.errorMessage.contains(fragment), "\(a)")
                if let id { #expect("\(a["id"] ?? "nil")" == "\(id)") }
            }
            try expectError(Array(#"{"id":1,"method":"#.utf8), code: "INVALID_ARGUMENT", containing: "malformed JSON")
            try expectError([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D], code: "INVALID_ARGUMENT", containing: "malformed JSON")
            try expectError(Array(String(repeating: "x", count: 100_000).utf8), code: "RESOURCE_EXHAUSTED", containing: "100000 bytes; the limit is 4096")
            try expectError(Array((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8), code: "RESOURCE_EXHAUSTED",
                            containing: "the limit is 4096")
            let deep = "{\"id\":2,\"method\":\"engram.v1.Health/Check\",\"params\":{\"a\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}}"
            try expectError(Array(deep.utf8), code: "INVALID_ARGUMENT", containing: "nests 102 deep; the limit is 32")
            try expectError(Array(#"{"id":3,"method":"engram.v1.Memory/Query","params":{"k":"ten","vector":[1,0,0,0]}}"#.utf8),
                            code: "INVALID_ARGUMENT", containing: "params.k: expected an integer", id: 3)
            try expectError(Array(#"{"id":4,"method":"engram.v1.Memory/Upsert","params":{"memories":[{"id":"n","vector":[NaN,0,0,0]}]}}"#.utf8),
                            code: "INVALID_ARGUMENT", containing: "malformed JSON")
            try expectError(Array(#"{"id":5,"method":"engram.v1.Memory/Upsert","params":{"memories":[{"id":"n","vector":[1e999,0,0,0]}]}}"#.utf8),
                            code: "INVALID_ARGUMENT", containing: "outside the range of a double")
            try expectError(Array(#"{"id":6,"method":"engram.v1.Memory/Upsert","params":{"memories":"all"}}"#.utf8),
                            code: "INVALID_ARGUMENT", containing: "params.memories: expected an array", id: 6)
            try expectError(Array(#"{"id":7,"method":"engram.v1.Nothing/Here"}"#.utf8), code: "UNIMPLEMENTED", containing: "unknown method", id: 7)
            // Nothing acknowledged was lost, nothing refused was written; the same connection works.
            #expect(try c.call(["id": 8, "method": "engram.v1.Memory/Stats"]).result?["memories"] as? Int == 0)
            _ = try c.call(["id": 9, "method": "engram.v1.Memory/Upsert", "params": ["memories": Self.memories]])
            #expect(try c.call(["id": 10, "method": "engram.v1.Memory/Stats"]).result?["memories"] as? Int == 3)
        }
    }

    @Test("a client that floods calls answered on the event loop and never reads is no longer read; the daemon's memory stays bounded and others are served")
    func floodNeverRead() throws {
        try Self.withDaemon { _, path, daemon in
            _ = try SocketClient(path: path).call(["id": 0, "method": "engram.v1.Memory/Upsert", "params": ["memories": Self.memories]])
            func rssMiB() throws -> Double {
                let status = try String(contentsOfFile: "/proc/\(daemon.processIdentifier)/status", encoding: .utf8)
                let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
                return try #require(Double(line.split(separator: " ")[1])) / 1024
            }
            let before = try rssMiB()
            let flood = try SocketClient(path: path)
            _ = fcntl(flood.fd, F_SETFL, fcntl(flood.fd, F_GETFL) | O_NONBLOCK)
            let request = Array((#"{"id":1,"method":"engram.v1.Memory/Get","params":{"id":"a"}}"# + "\n").utf8)
            // Stopped: the socket stays full for a second after it filled (a full socket alone
            // only says the client sends faster than the daemon reads).
            var sent = 0, stopped = false
            let deadline = Date().addingTimeInterval(60)
            while !stopped && sent < Self.floodRequests && Date() < deadline {
                let n = request.withUnsafeBytes { Glibc.send(flood.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n > 0 {
                    sent += 1
                } else if errno == EAGAIN {
                    Thread.sleep(forTimeInterval: 1)
                    stopped = request.withUnsafeBytes { Glibc.send(flood.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } < 0 && errno == EAGAIN
                    if !stopped { sent += 1 }
                } else {
                    Issue.record("send: \(String(cString: strerror(errno)))")
                    return
                }
            }
            #expect(stopped, "a client that never reads was still read after \(sent) requests")
            let grown = try rssMiB() - before
            #expect(grown < 64, "the daemon grew by \(grown) MiB while a client flooded it")
            #expect(try SocketClient(path: path).call(["id": 2, "method": "engram.v1.Memory/Get", "params": ["id": "b"]]).result?["text"] as? String
                    == "VALVE-3 leaked")
        }
    }

    /// Requests the flooding client sends at most before it must have been stopped.
    static let floodRequests = 200_000

    @Test("TCP: every method but Health/Check needs the generated token (0600); a wrong or missing one is UNAUTHENTICATED; the Unix socket needs none")
    func tcpToken() throws {
        let port = SocketClient.freePort()
        try Self.withDaemon(server: "tcp = \"127.0.0.1:\(port)\"\n") { db, path, _ in
            var tcp: SocketClient?
            let deadline = Date().addingTimeInterval(30)
            while tcp == nil && Date() < deadline {
                tcp = try? SocketClient(tcpPort: port)
                if tcp == nil { Thread.sleep(forTimeInterval: 0.05) }
            }
            let c = try #require(tcp)
            let tokenFile = db + "/engramd.token"
            let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.count == 64 && token.allSatisfy(\.isHexDigit))
            #expect(try FileManager.default.attributesOfItem(atPath: tokenFile)[.posixPermissions] as? Int == 0o600)
            #expect(try c.call(["id": 1, "method": "engram.v1.Health/Check"]).result?["status"] as? String == "SERVING")
            let missing = try c.call(["id": 2, "method": "engram.v1.Memory/Stats"])
            #expect(missing.errorCode == "UNAUTHENTICATED" && missing.errorMessage.contains("Bearer TOKEN"), "\(missing)")
            #expect(try c.call(["id": 3, "method": "engram.v1.Memory/Upsert", "params": ["memories": Self.memories],
                                "metadata": ["authorization": "Bearer " + String(token.reversed())]]).errorCode == "UNAUTHENTICATED")
            #expect(try c.call(["id": 4, "method": "engram.v1.Memory/Stats", "metadata": ["authorization": token]]).errorCode == "UNAUTHENTICATED")
            #expect(try c.call(["id": 5, "method": "engram.v1.Memory/Stats", "metadata": ["authorization": 7]]).errorCode == "INVALID_ARGUMENT")
            let bearer = ["authorization": "Bearer " + token]
            #expect(try c.call(["id": 6, "method": "engram.v1.Memory/Upsert", "params": ["memories": Self.memories], "metadata": bearer]).result?["ids"] as? [String]
                    == ["a", "b", "c"])
            #expect(try c.call(["id": 7, "method": "engram.v1.Memory/Stats", "metadata": bearer]).result?["memories"] as? Int == 3)
            // The calls answered on the event loop ask for the token too.
            let query: [String: Any] = ["vector": [1, 0, 0, 0], "k": 1]
            #expect(try c.call(["id": 9, "method": "engram.v1.Memory/Query", "params": query]).errorCode == "UNAUTHENTICATED")
            #expect(try c.call(["id": 10, "method": "engram.v1.Memory/Get", "params": ["id": "a"]]).errorCode == "UNAUTHENTICATED")
            let hits = try c.call(["id": 11, "method": "engram.v1.Memory/Query", "params": query, "metadata": bearer]).result?["results"] as? [[String: Any]]
            #expect(hits?.map { $0["id"] as? String } == ["a"])
            // The Unix socket, private by its directory, asks for no token.
            #expect(try SocketClient(path: path).call(["id": 8, "method": "engram.v1.Memory/Stats"]).result?["memories"] as? Int == 3)
        }
    }

    @Test("[server] max_connections: one more is answered RESOURCE_EXHAUSTED and closed; idle_timeout closes silent connections, freeing their places")
    func connectionLimits() throws {
        try Self.withDaemon(server: "max_connections = 2\nidle_timeout = \"1s\"\n") { _, path, _ in
            let a = try SocketClient(path: path), b = try SocketClient(path: path)
            #expect(try a.call(["id": 1, "method": "engram.v1.Health/Check"]).result?["status"] as? String == "SERVING")
            #expect(try b.call(["id": 1, "method": "engram.v1.Health/Check"]).result?["status"] as? String == "SERVING")
            let c = try SocketClient(path: path)
            // A connection over the limit answers no call, not even one answered on the event
            // loop (the send fails if the daemon has closed it already).
            try? c.send(#"{"id":9,"method":"engram.v1.Health/Check"}"#)
            let refused = try c.answer()
            #expect(refused.errorCode == "RESOURCE_EXHAUSTED" && refused.errorMessage.contains("2 connections open ([server] max_connections)"), "\(refused)")
            #expect(throws: SocketClient.SocketError.self) { try c.answer() }
            // Silent for longer than the idle timeout: closed by the daemon.
            Thread.sleep(forTimeInterval: 1.6)
            #expect(throws: SocketClient.SocketError.self) { try a.answer() }
            #expect(throws: SocketClient.SocketError.self) { try b.answer() }
            let d = try SocketClient(path: path)
            #expect(try d.call(["id": 2, "method": "engram.v1.Health/Check"]).result?["status"] as? String == "SERVING")
        }
    }

    /// An HTTP/1.1 request to 127.0.0.1:`port` (the connection closed after it): the status and body.
    static func http(_ port: Int, _ method: String, _ path: String) throws -> (status: Int, body: String) {
        let c = try SocketClient(tcpPort: port)
        try c.send(Array("\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8))
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            bytes += chunk[..<n]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test("/metrics counts calls by method and code, with their durations and the store's size, in Prometheus text; /healthz answers SERVING; other paths 404, other methods 405")
    func metrics() throws {
        let port = SocketClient.freePort()
        try Self.withDaemon(server: "metrics = \"127.0.0.1:\(port)\"\n") { _, path, _ in
            let c = try SocketClient(path: path)
            _ = try c.call(["id": 1, "method": "engram.v1.Memory/Upsert", "params": ["memories": Self.memories]])
            for id in 2...3 { _ = try c.call(["id": id, "method": "engram.v1.Memory/Stats"]) }
            #expect(try c.call(["id": 4, "method": "engram.v1.Memory/Get", "params": ["id": "nope"]]).errorCode == "NOT_FOUND")
            var health = (status: 0, body: "")
            let deadline = Date().addingTimeInterval(30)
            while health.status == 0 && Date() < deadline {
                health = (try? Self.http(port, "GET", "/healthz")) ?? (0, "")
                if health.status == 0 { Thread.sleep(forTimeInterval: 0.05) }
            }
            #expect(health.status == 200 && health.body == "SERVING\n")
            let scraped = try Self.http(port, "GET", "/metrics")
            #expect(scraped.status == 200)
            let lines = scraped.body.split(separator: "\n").map(String.init)
            func value(_ name: String, _ labels: [String]) -> String? {
                lines.first { line in line.hasPrefix(name + "{") && labels.allSatisfy { line.contains($0) } || line.hasPrefix(name + " ") && labels.isEmpty }?
                    .split(separator: " ").last.map(String.init)
            }
            #expect(value("engram_requests_total", [#"method="engram.v1.Memory/Stats""#, #"code="OK""#]) == "2", "\(scraped.body)")
            #expect(value("engram_requests_total", [#"method="engram.v1.Memory/Get""#, #"code="NOT_FOUND""#]) == "1")
            #expect(value("engram_requests_total", [#"method="engram.v1.Memory/Upsert""#, #"code="OK""#]) == "1")
            #expect(value("engram_request_duration_seconds_count", [#"method="engram.v1.Memory/Stats""#]) == "2")
            #expect(value("engram_memories", []) == "3.0")
            #expect(value("engram_connections_open", []) == "1.0")
            #expect(try Self.http(port, "GET", "/nothing").status == 404)
            #expect(try Self.http(port, "POST", "/metrics").status == 405)
        }
    }

    /// Asks `question` on `c` under `id` and reads its stream to the end: the model the answer
    /// names, or the error code.
    static func ask(_ c: SocketClient, id: String) throws -> (model: String?, error: String?) {
        let ask: [String: Any] = ["question": "What happened to PUMP-7?", "mode": "text", "maxTokens": 4, "cache": false]
        try c.send(String(decoding: try JSONSerialization.data(withJSONObject: ["id": id, "method": "engram.v1.RAG/Ask", "params": ask]), as: UTF8.self))
        while true {
            let a = try c.answer(to: id)
            if let response = (a["message"] as? [String: Any])?["response"] as? [String: Any] {
                let end = try c.answer(to: id)
                return ((end["status"] as? [String: Any])?["code"] as? String == "OK" ? response["model"] as? String : nil, end.errorCode)
            }
            if a["message"] == nil { return (nil, a.errorCode ?? "no answer: \(a)") }
        }
    }

    @Test("Admin/ReloadModel swaps the model under a load of questions (no call fails, later answers name the new model); a missing or broken file leaves the old one serving; SIGHUP loads it again")
    func hotSwap() throws {
        try Self.withDaemon { db, path, daemon in
            let c = try SocketClient(path: path)
            _ = try c.call(["id": 0, "method": "engram.v1.Memory/Upsert", "params": ["memories": Self.memories]])
            let dir = URL(fileURLWithPath: db).deletingLastPathComponent()
            let swapped = dir.appendingPathComponent("swapped.gguf").path
            try FileManager.default.createSymbolicLink(atPath: swapped, withDestinationPath: GLMCommandTests.model)
            let broken = dir.appendingPathComponent("broken.gguf").path
            try Data("GGUF but nothing else".utf8).write(to: URL(fileURLWithPath: broken))
            // Before any question no model is loaded; a missing file is NOT_FOUND.
            #expect(try c.call(["id": 1, "method": "engram.v1.Health/Check"]).result?["model"] == nil)
            #expect(try c.call(["id": 2, "method": "engram.v1.Admin/ReloadModel", "params": ["path": dir.path + "/none.gguf"]]).errorCode == "NOT_FOUND")
            #expect(try Self.ask(c, id: "first") == ("SmolLM2-135M-Instruct.Q4_1", nil))
            let original = try c.call(["id": 1, "method": "engram.v1.Health/Check"]).result?["model"] as? String
            #expect(original?.hasSuffix("/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") == true)
            // Three connections ask one question after another while the model is swapped.
            let stop = OnceFlag()
            let outcomes = Mutex<[(model: String?, error: String?)]>([])
            let done = DispatchGroup()
            for t in 0..<3 {
                done.enter()
                Thread.detachNewThread {
                    defer { done.leave() }
                    guard let client = try? SocketClient(path: path) else {
                        outcomes.withLock { $0.append((nil, "cannot connect")) }
                        return
                    }
                    var n = 0
                    while !stop.isSet {
                        let outcome = (try? Self.ask(client, id: "t\(t)-\(n)")) ?? (nil, "the connection failed")
                        outcomes.withLock { $0.append(outcome) }
                        n += 1
                    }
                }
            }
            Thread.sleep(forTimeInterval: 1)
            let reloaded = try c.call(["id": 3, "method": "engram.v1.Admin/ReloadModel", "params": ["path": swapped]])
            #expect(reloaded.result?["model"] as? String == swapped && reloaded.result?["previous"] as? String == original, "\(reloaded)")
            // A broken file fails to load; the swapped model keeps serving.
            let failed = try c.call(["id": 4, "method": "engram.v1.Admin/ReloadModel", "params": ["path": broken]])
            #expect(failed.errorCode == "DATA_LOSS", "\(failed)")
            Thread.sleep(forTimeInterval: 2)
            stop.set()
            done.wait()
            let all = outcomes.withLock { $0 }
            #expect(all.count >= 3 && all.allSatisfy { $0.error == nil }, "\(all)")
            #expect(Set(all.compactMap(\.model)).isSubset(of: ["SmolLM2-135M-Instruct.Q4_1", "swapped"]), "\(all)")
            #expect(try Self.ask(c, id: "after") == ("swapped", nil))
            let health = try c.call(["id": 5, "method": "engram.v1.Health/Check"]).result
            #expect(health?["model"] as? String == swapped)
            // SIGHUP loads the serving file again: a new load time, the same file, still serving.
            kill(daemon.processIdentifier, SIGHUP)
            var again = health
            let deadline = Date().addingTimeInterval(30)
            while again?["modelLoadedAt"] as? String == health?["modelLoadedAt"] as? String && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.05)
                again = try c.call(["id": 6, "method": "engram.v1.Health/Check"]).result
            }
            #expect(again?["model"] as? String == swapped && again?["modelLoadedAt"] as? String != health?["modelLoadedAt"] as? String, "\(String(describing: again))")
            #expect(daemon.isRunning)
            #expect(try Self.ask(c, id: "last") == ("swapped", nil))
        }
    }

    @Test("a client that shuts down its sending side gets its answers; SIGTERM ends a stream in flight with UNAVAILABLE and exits 0")
    func halfCloseAndShutdown() throws {
        try Self.withDaemon { _, path, daemon in
            let c = try SocketClient(path: path)
            _ = try c.call(["id": 0, "method": "engram.v1.Memory/Upsert", "params": ["memories": Self.memories]])
            try c.send(#"{"id":1,"method":"engram.v1.Memory/Get","params":{"id":"a"}}"#)
            shutdown(c.fd, Int32(SHUT_WR))
            #expect(try c.answer().result?["id"] as? String == "a")
            let s = try SocketClient(path: path)
            try s.send(String(decoding: try JSONSerialization.data(withJSONObject: ["id": "s", "method": "engram.v1.RAG/Ask", "params": Self.longAsk]),
                              as: UTF8.self))
            #expect(try s.answer(to: "s")["message"] != nil)
            daemon.terminate()
            var end = try s.answer(to: "s")
            while end["message"] != nil { end = try s.answer(to: "s") }
            #expect(end.errorCode == "UNAVAILABLE" && end.errorMessage.contains("shutting down"))
            daemon.waitUntilExit()
            #expect(daemon.terminationStatus == 0 && daemon.terminationReason == .exit)
        }
    }

    @Test("while engramd holds the database, engram add, get, query, stats, delete, compact, import, watch and graph purge go through its socket")
    func cliThroughDaemon() throws {
        try Self.withDaemon { db, path in
            let added = try CLI.run(["add", "--db", db, "--id", "n1", "--vector", "0,0,0,1", "Pump 7 was painted blue"])
            #expect(added.status == 0 && added.stdout == "n1\n", "\(added.stderr)")
            // The daemon has it: the socket's own Get answers with the text the CLI wrote.
            #expect(try SocketClient(path: path).call(["id": 1, "method": "engram.v1.Memory/Get", "params": ["id": "n1"]]).result?["text"] as? String
                    == "Pump 7 was painted blue")
            #expect(try CLI.run(["get", "--db", db, "n1", "--json"]).stdout.contains("\"text\":\"Pump 7 was painted blue\""))
            let found = try CLI.run(["query", "--db", db, "--vector", "0,0,0.9,0.1", "--k", "1", "--json"])
            #expect(found.status == 0 && found.stdout.contains("\"id\":\"n1\""), "\(found.stderr)")
            #expect(try CLI.run(["stats", "--db", db, "--json"]).stdout.contains("\"memories\":1"))
            #expect(try CLI.run(["compact", "--db", db]).status == 0)
            #expect(try CLI.run(["delete", "--db", db, "n1"]).stdout == "deleted 1 memory\n")
            // An import runs in the daemon, which reads the file: its acknowledgements and skipped
            // lines come back as they happen, then the summary.
            let file = URL(fileURLWithPath: db).deletingLastPathComponent().appendingPathComponent("in.jsonl")
            try (#"{"id":"x","vector":[1,0,0,0]}"# + "\nnot json\n" + #"{"id":"y","vector":[0,1,0,0],"text":"imported by the daemon"}"# + "\n")
                .write(to: file, atomically: true, encoding: .utf8)
            let imported = try CLI.run(["import", "--db", db, "--skip-invalid", "--ack-lines", "--batch", "1", "--json", file.path])
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(imported.stdout.contains("ack 3") && imported.stdout.contains("\"imported\":2") && imported.stdout.contains("\"skippedLines\":[2]"),
                    "\(imported.stdout)")
            #expect(imported.stderr.contains("skipping line 2"), "\(imported.stderr)")
            #expect(try SocketClient(path: path).call(["id": 2, "method": "engram.v1.Memory/Get", "params": ["id": "y"]]).result?["text"] as? String
                    == "imported by the daemon")
            let piped = try CLI.run(["import", "--db", db, "-"])
            #expect(piped.status != 0 && piped.stderr.contains("give a file rather than standard input"), "\(piped.stderr)")
            // A pass over change logs and a graph purge run there too (relative paths made absolute).
            let log = URL(fileURLWithPath: db).deletingLastPathComponent().appendingPathComponent("changes.jsonl")
            try (#"{"seq":1,"id":"w1","text":"from a log","vector":[0,0,1,0]}"# + "\n" + #"{"seq":2,"id":"x","op":"delete"}"# + "\n")
                .write(to: log, atomically: true, encoding: .utf8)
            let watched = try CLI.run(["watch", "--db", db, "changes.jsonl"], currentDirectory: log.deletingLastPathComponent())
            #expect(watched.status == 0 && watched.stdout.contains("2 lines, 2 changes applied"), "\(watched.stdout) \(watched.stderr)")
            #expect(try SocketClient(path: path).call(["id": 3, "method": "engram.v1.Memory/Get", "params": ["id": "x"]]).errorCode == "NOT_FOUND")
            let purged = try CLI.run(["graph", "purge", "--db", db, "--before", "2020-01-01T00:00:00Z"])
            #expect(purged.status == 0 && purged.stdout == "removed 0 edges closed before 2020-01-01T00:00:00Z\n", "\(purged.stderr)")
            #expect(try SocketClient(path: path).call(["id": 4, "method": "engram.v1.Ingest/Watch", "params": ["paths": ["changes.jsonl"]]]).errorCode
                    == "INVALID_ARGUMENT")
        }
    }
}
