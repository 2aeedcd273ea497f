import Engram
import EngramServer
import Foundation
import NIOCore
import NIOEmbedded
import Testing

@Suite("Socket API: frames, requests and the schema")
struct ProtocolTests {
    /// Feeds `chunks` to the decoder on an embedded channel and returns what it read.
    static func frames(_ chunks: [String], max: Int) throws -> [NDJSONFrame] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(NDJSONFrameDecoder(maxFrameBytes: max)))
        var out: [NDJSONFrame] = []
        for chunk in chunks {
            try channel.writeInbound(ByteBuffer(string: chunk))
            while let frame = try channel.readInbound(as: NDJSONFrame.self) { out.append(frame) }
        }
        _ = try channel.finish()
        return out
    }

    static func line(_ s: String) -> NDJSONFrame { .line(ByteBuffer(string: s)) }

    @Test("lines split at newlines whatever the chunks; CR LF is one end; a line over the limit is reported once and the next one read")
    func frameDecoder() throws {
        #expect(try Self.frames(["{\"a\":1}\n{\"b\"", ":2}\r\n\n"], max: 100) == [Self.line("{\"a\":1}"), Self.line("{\"b\":2}"), Self.line("")])
        // 250 bytes against a limit of 100, fed in pieces: dropped as they come, reported with
        // their count, and the stream resynchronises at the next newline.
        let long = String(repeating: "x", count: 250)
        let pieces = stride(from: 0, to: 250, by: 30).map { String(long.dropFirst($0).prefix(30)) }
        #expect(try Self.frames(pieces + ["\nnext\n"], max: 100) == [.oversized(bytes: 250), Self.line("next")])
        #expect(try Self.frames([long + "\n", "ok\n"], max: 100) == [.oversized(bytes: 250), Self.line("ok")])
        // A line exactly at the limit passes; an unterminated tail at the end is no request.
        #expect(try Self.frames([String(repeating: "y", count: 100) + "\ntail"], max: 100) == [Self.line(String(repeating: "y", count: 100))])
    }

    @Test("a request line: its id, method, params and deadline; every malformed line a specific INVALID_ARGUMENT with the id when readable")
    func requests() throws {
        let parser = try NDJSONProtocol.parser(maxDepth: 8)
        let r = try NDJSONProtocol.request(Array(#"{"id":"q1","method":"engram.v1.Memory/Query","params":{"k":3},"deadlineMs":50}"#.utf8), maxDepth: 8, parser: parser)
        #expect(r.id == "\"q1\"" && r.method == "engram.v1.Memory/Query" && r.params == ["k": .number(3)] && r.deadlineMs == 50)
        // Nested exactly as deep as the limit: read.
        let deepest = try NDJSONProtocol.request(Array(#"{"id":7,"method":"m","params":{"a":[[[[[[]]]]]]}}"#.utf8), maxDepth: 8, parser: parser)
        #expect(deepest.params["a"] == .array([.array([.array([.array([.array([.array([])])])])])]))
        let cases: [(String, String, String)] = [
            (#"{"id":1,"method":"#, "null", "malformed JSON"),
            ("[1,2]", "null", "is not {\"id\""),
            (#"{"id":7}"#, "7", "names no method"),
            (#"{"id":7,"method":3}"#, "7", "request.method: expected a string"),
            (#"{"id":7,"method":"m","params":[1]}"#, "7", "params must be an object"),
            (#"{"id":7,"method":"m","deadlineMs":-1}"#, "7", "deadlineMs must be a positive"),
            (String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000), "null", "nests 10000 deep; the limit is 8"),
            // The request object, params, then seven arrays: one level beyond the limit.
            (#"{"id":7,"method":"m","params":{"a":[[[[[[[]]]]]]]}}"#, "null", "nests 9 deep; the limit is 8"),
        ]
        for (line, id, fragment) in cases {
            #expect("\(line.prefix(40))") {
                _ = try NDJSONProtocol.request(Array(line.utf8), maxDepth: 8, parser: parser)
            } throws: { error in
                guard let failure = error as? NDJSONProtocol.Failure else { return false }
                return failure.id == id && failure.error.code == .invalidArgument && failure.error.message.contains(fragment)
            }
        }
        // Invalid UTF-8 is malformed JSON, not a crash.
        #expect { _ = try NDJSONProtocol.request([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D], maxDepth: 8, parser: parser) } throws: {
            ($0 as? NDJSONProtocol.Failure)?.error.message.contains("malformed JSON") == true
        }
    }

    @Test("the committed Data/api/engram.v1.json is the schema the server's types make, with every method")
    func schema() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let committed = try String(contentsOf: root.appendingPathComponent("Data/api/engram.v1.json"), encoding: .utf8)
        #expect(committed == APISchema.document() + "\n", "regenerate with: swift run -c release engramd --api-schema > Data/api/engram.v1.json")
        let document = try JSONSerialization.jsonObject(with: Data(committed.utf8)) as? [String: Any]
        let methods = document?["methods"] as? [String: [String: String]] ?? [:]
        #expect(Set(methods.keys) == Set(RPCMethod.allCases.map(\.rawValue)))
        #expect(methods["engram.v1.RAG/Ask"]?["kind"] == "server-streaming" && methods["engram.v1.Memory/Query"]?["result"] == "QueryResponse")
        let types = document?["types"] as? [String: [String: String]] ?? [:]
        #expect(types["QueryRequest"]?["graphHops"] == "integer?" && types["UpsertRequest"]?["memories"] == "[MemoryInput]")
    }
}
