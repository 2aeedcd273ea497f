import Engram
import NIOCore

/// What a fuzzer drives: a client's bytes through everything that reads them before a call
/// runs. `Tools/fuzz.sh` builds it into a libFuzzer target; `FuzzRegressionTests` runs the
/// committed corpus and every crash found through it.
package enum FuzzTarget {
    /// Feeds `bytes` to the frame decoder in two pieces (split where the first byte says),
    /// reads each line as a request, decodes its params as every method's parameters and
    /// writes them back as JSON. Errors are expected; a crash, a hang or unbounded memory is
    /// a bug.
    package static func exercise(_ bytes: [UInt8]) {
        guard let parser = try? NDJSONProtocol.parser(maxDepth: maxDepth) else { return }
        let frames = NIOSingleStepByteToMessageProcessor(NDJSONFrameDecoder(maxFrameBytes: maxFrameBytes))
        let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        for piece in [bytes[..<cut], bytes[cut...]] {
            try? frames.process(buffer: ByteBuffer(bytes: piece)) { frame in
                guard case let .line(line) = frame,
                      let request = try? NDJSONProtocol.request(Array(line.readableBytesView), maxDepth: maxDepth, parser: parser) else { return }
                _ = RPCMethod(rawValue: request.method)
                for method in RPCMethod.allCases { roundTrip(method.requestType, request.params) }
                _ = try? JSONTextEncoder().encode(JSONValue.object(request.params))
            }
        }
    }

    /// Decodes `params` as `T` and, when they are, writes them back.
    private static func roundTrip<T: Codable>(_ type: T.Type, _ params: [String: JSONValue]) {
        if let value = try? EngramService.decode(T.self, params) { _ = try? JSONTextEncoder().encode(value) }
    }

    /// The limits the target runs under (small, so that the fuzzer reaches them).
    static let maxFrameBytes = 4096
    static let maxDepth = 16
}
