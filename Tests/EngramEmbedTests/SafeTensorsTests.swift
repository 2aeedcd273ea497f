import EngramBase
import EngramEmbed
import Foundation
import Testing

/// Builds safetensors bytes from a JSON header string and a data section.
private func safetensors(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> Data {
    let json = Array(header.utf8)
    var bytes: [UInt8] = []
    let n = declaredLength ?? UInt64(json.count)
    for i in 0..<8 { bytes.append(UInt8((n >> (8 * UInt64(i))) & 0xFF)) }
    return Data(bytes + json + data)
}

private func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

private func write(_ data: Data) throws -> URL {
    let url = try temporaryDirectory().appendingPathComponent("t.safetensors")
    try data.write(to: url)
    return url
}

/// Opens `data` as a safetensors file, expecting `.dataLoss` with `reason`; returns the error.
@discardableResult
private func openError(_ data: Data, _ reason: EngramError.Reason, sourceLocation: SourceLocation = #_sourceLocation) throws -> EngramError? {
    let url = try write(data)
    return expectError(.dataLoss, reason, sourceLocation: sourceLocation) { try SafeTensorsFile(url: url) }
}

@Suite("safetensors reader")
struct SafeTensorsTests {
    static let header = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[2],"data_offsets":[24,28]}}"#
    static let values: [Float] = [1, -2, 3.5, 0, 1e-3, 42]
    /// 1.0 and -2.0 as IEEE half floats.
    static let halves: [UInt8] = [0x00, 0x3C, 0x00, 0xC0]

    @Test func readsF32AndF16Tensors() throws {
        let url = try write(safetensors(header: Self.header, data: floatBytes(Self.values) + Self.halves))
        let file = try SafeTensorsFile(url: url)
        #expect(file.names == ["a", "b"])
        #expect(file.metadata == ["format": "pt"])
        let a = try #require(file.tensors["a"])
        #expect(a.dtype == .f32 && a.shape == [2, 3] && a.dataRange == 0..<24 && a.elementCount == 6)
        #expect(try file.floats("a") == Self.values)
        #expect(try file.floats("a", shape: [2, 3]) == Self.values)
        #expect(try file.floats("b") == [1, -2])
    }

    @Test func readsBF16Tensors() throws {
        // 1.0, -2.0 and 0.5 as bfloat16 (the high half of the float's bits).
        let header = #"{"c":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}"#
        let url = try write(safetensors(header: header, data: [0x80, 0x3F, 0x00, 0xC0, 0x00, 0x3F]))
        #expect(try SafeTensorsFile(url: url).floats("c") == [1, -2, 0.5])
    }

    @Test func rejectsWrongShapeAndMissingTensor() throws {
        let url = try write(safetensors(header: Self.header, data: floatBytes(Self.values) + Self.halves))
        let file = try SafeTensorsFile(url: url)
        let shape = expectError(.dataLoss, .shapeMismatch) { try file.floats("a", shape: [3, 2]) }
        #expect(shape?.message.contains("'a' has shape [2, 3], expected [3, 2]") == true)
        let missing = expectError(.dataLoss, .missingTensor) { try file.floats("c") }
        #expect(missing?.message.contains("'c' is missing from \(url.path)") == true)
    }

    @Test func rejectsUnsupportedDType() throws {
        let header = #"{"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#
        let url = try write(safetensors(header: header, data: [UInt8](repeating: 0, count: 8)))
        let file = try SafeTensorsFile(url: url)
        let error = expectError(.unimplemented, .unsupportedDType) { try file.floats("i") }
        #expect(error?.message.contains("'i' has dtype I64") == true)
    }

    @Test func rejectsTruncatedData() throws {
        // The data section is 4 bytes short of what tensor "b" needs.
        let error = try openError(safetensors(header: Self.header, data: floatBytes(Self.values)), .truncatedSafeTensors)
        #expect(error?.message.contains("'b'") == true)
        #expect(error?.message.contains("Tools/setup-models.sh") == true)
    }

    @Test func rejectsFileShorterThanLengthPrefix() throws {
        try openError(Data([1, 0, 0]), .truncatedSafeTensors)
    }

    @Test func rejectsHeaderLongerThanFile() throws {
        try openError(safetensors(header: Self.header, data: [], declaredLength: 10_000), .truncatedSafeTensors)
    }

    @Test func rejectsAbsurdHeaderLength() throws {
        try openError(safetensors(header: "{}", data: [], declaredLength: UInt64.max), .invalidSafeTensorsHeader)
    }

    @Test(arguments: [
        ("not json", "JSON"),
        ("[1, 2]", "object"),
        (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, "needs 8 bytes"),
        (#"{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#, "unknown dtype"),
        (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, "non-negative"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, "data_offsets"),
        (#"{"a":{"dtype":"F32","shape":[1]}}"#, "data_offsets"),
        (#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, "dtype"),
        (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, "overlap"),
    ])
    func rejectsBadHeader(header: String, expected: String) throws {
        let error = try openError(safetensors(header: header, data: [UInt8](repeating: 0, count: 16)), .invalidSafeTensorsHeader)
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
    }

    @Test func emptyTensorsReadAsEmpty() throws {
        let header = #"{"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"h":{"dtype":"F16","shape":[2,0],"data_offsets":[0,0]}}"#
        let file = try SafeTensorsFile(url: try write(safetensors(header: header, data: [])))
        #expect(try file.floats("z").isEmpty)
        #expect(try file.floats("h", shape: [2, 0]).isEmpty)
    }

    @Test func byteCountOverflowIsAnError() throws {
        // 4e18 elements fit in an Int; 8 bytes each do not.
        let header = #"{"a":{"dtype":"F64","shape":[4000000000000000,1000],"data_offsets":[0,8]}}"#
        let error = try openError(safetensors(header: header, data: [UInt8](repeating: 0, count: 8)), .invalidSafeTensorsHeader)
        #expect(error?.message.contains("too large") == true, "\(error?.message ?? "")")
    }

    @Test func missingFileNamesSetupScript() throws {
        let url = try temporaryDirectory().appendingPathComponent("absent.safetensors")
        let error = expectError(.notFound, .missingModelFile) { try SafeTensorsFile(url: url) }
        #expect(error?.message.contains(url.path) == true)
        #expect(error?.message.contains("Tools/setup-models.sh") == true)
        expectError(.failedPrecondition, .unreadableModelFile) { try SafeTensorsFile(url: url.deletingLastPathComponent()) }
    }

    @Test func readsTheModelFile() throws {
        let file = try SafeTensorsFile(url: try Fixtures.requireModel().appendingPathComponent("model.safetensors"))
        #expect(file.tensors["embeddings.word_embeddings.weight"]?.shape == [30522, 384])
        #expect(file.tensors["encoder.layer.5.intermediate.dense.weight"]?.shape == [1536, 384])
        #expect(file.tensors["encoder.layer.5.intermediate.dense.weight"]?.dtype == .f32)
        let gain = try file.floats("embeddings.LayerNorm.weight", shape: [384])
        #expect(gain.allSatisfy { $0.isFinite })
    }

    @Test func truncatedModelFileIsRejected() throws {
        // The real header with the last tensor cut short.
        let source = try Fixtures.requireModel().appendingPathComponent("model.safetensors")
        let handle = try FileHandle(forReadingFrom: source)
        defer { try? handle.close() }
        let prefix = try #require(try handle.read(upToCount: 1_000_000))
        try openError(prefix, .truncatedSafeTensors)
    }
}
