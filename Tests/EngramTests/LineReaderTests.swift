import Engram
import EngramBase
import Foundation
import Testing

/// All lines of `reader` as (number, text).
private func lines(_ reader: LineReader) throws -> [(Int, String)] {
    var out: [(Int, String)] = []
    while let line = try reader.next() { out.append((line.number, String(decoding: line.bytes, as: UTF8.self))) }
    return out
}

private func write(_ text: String, in dir: URL, name: String = "in.jsonl") throws -> String {
    let url = dir.appendingPathComponent(name)
    try Data(text.utf8).write(to: url)
    return url.path
}

@Suite("LineReader")
struct LineReaderTests {
    @Test("lines, numbers, empty lines, CR kept, last line without a newline")
    func basics() throws {
        try withTempDir { dir in
            let path = try write("a\n\nbc\r\n  \nlast", in: dir)
            let reader = try LineReader(path: path, maxLineBytes: 100)
            #expect(reader.size == 14)
            let got = try lines(reader)
            #expect(got.map(\.0) == [1, 2, 3, 4, 5])
            #expect(got.map(\.1) == ["a", "", "bc\r", "  ", "last"])
            #expect(reader.bytesRead == 14)
            #expect(try reader.next() == nil)

            #expect(try lines(LineReader(path: write("", in: dir, name: "empty"), maxLineBytes: 10)).isEmpty)
            #expect(try lines(LineReader(path: write("x\n", in: dir, name: "one"), maxLineBytes: 10)).map(\.1) == ["x"])
            #expect(try lines(LineReader(path: write("\n", in: dir, name: "nl"), maxLineBytes: 10)).map(\.1) == [""])
        }
    }

    @Test("any chunk size gives the same lines (random contents, seeded)")
    func chunkBoundaries() throws {
        let seed = testSeed("LineReaderTests")
        var rng = SeededRandom(seed: seed)
        try withTempDir { dir in
            for trial in 0..<40 {
                let count = Int.random(in: 0...60, using: &rng)
                let expected = (0..<count).map { _ in
                    String((0..<Int.random(in: 0...40, using: &rng)).map { _ in "abcdefgh ,{}\"é".randomElement(using: &rng)! })
                }
                let trailingNewline = Bool.random(using: &rng)
                var text = expected.joined(separator: "\n")
                if trailingNewline && !expected.isEmpty { text += "\n" }
                let path = try write(text, in: dir, name: "t\(trial)")
                for chunk in [1, 2, 3, 7, 64, 1 << 20] {
                    let reader = try LineReader(path: path, maxLineBytes: 1000, chunkBytes: chunk)
                    let got = try lines(reader)
                    // A file that ends in an empty last line without a newline has no such line.
                    let want = !trailingNewline && expected.last == "" ? Array(expected.dropLast()) : expected
                    #expect(got.map(\.1) == want, "chunk \(chunk), trial \(trial)")
                    #expect(got.map(\.0) == want.indices.map { $0 + 1 })
                    #expect(reader.bytesRead == Int64(text.utf8.count))
                }
            }
        }
    }

    @Test("--max-line-bytes: a line at the limit passes, one byte more is refused with its number")
    func lineLimit() throws {
        try withTempDir { dir in
            for chunk in [1, 4, 1 << 20] {
                let path = try write("0123456789\nshort\n01234567890\nnever read", in: dir)
                let reader = try LineReader(path: path, maxLineBytes: 10, chunkBytes: chunk)
                #expect(try reader.next()?.bytes.count == 10)
                #expect(try reader.next()?.number == 2)
                #expect(throws: EngramError(.invalidArgument, "line 3 is longer than 10 bytes (--max-line-bytes)", reason: .lineTooLong)) {
                    _ = try reader.next()
                }
                // The last line, without a newline.
                let last = try LineReader(path: write("ok\n01234567890", in: dir), maxLineBytes: 10, chunkBytes: chunk)
                _ = try last.next()
                #expect(throws: EngramError(.invalidArgument, "line 2 is longer than 10 bytes (--max-line-bytes)", reason: .lineTooLong)) {
                    _ = try last.next()
                }
            }
        }
    }

    @Test("a line far over the limit is refused without reading it whole")
    func longLineNotRead() throws {
        try withTempDir { dir in
            let path = try write("{}\n" + String(repeating: "x", count: 10_000_000) + "\n", in: dir)
            let reader = try LineReader(path: path, maxLineBytes: 1000, chunkBytes: 4096)
            _ = try reader.next()
            #expect(throws: EngramError(.invalidArgument, "line 2 is longer than 1000 bytes (--max-line-bytes)", reason: .lineTooLong)) {
                _ = try reader.next()
            }
            #expect(reader.bytesRead <= 1000 + 3 * 4096)
        }
    }

    @Test("a long line within the limit grows the buffer")
    func longLine() throws {
        try withTempDir { dir in
            let long = String(repeating: "y", count: 3_000_001)
            let path = try write("a\n\(long)\nb", in: dir)
            let got = try lines(LineReader(path: path, maxLineBytes: 3_000_001, chunkBytes: 1000))
            #expect(got.map(\.1) == ["a", long, "b"])
        }
    }

    @Test("files that cannot be read")
    func unreadable() throws {
        try withTempDir { dir in
            let missing = dir.appendingPathComponent("missing.jsonl").path
            #expect(throws: EngramError(.notFound, "cannot read \(missing): No such file or directory")) {
                _ = try LineReader(path: missing, maxLineBytes: 10)
            }
            let reader = try LineReader(path: dir.path, maxLineBytes: 10)
            #expect(reader.size == nil)
            #expect(throws: EngramError(.unavailable, "reading \(dir.path) failed: Is a directory")) {
                _ = try reader.next()
            }
        }
    }

    @Test("a pipe written in small pieces")
    func pipe() throws {
        try withTempDir { dir in
            let path = dir.appendingPathComponent("fifo").path
            #expect(mkfifo(path, 0o600) == 0)
            let text = (1...200).map { "{\"n\":\($0)}" }.joined(separator: "\n")
            let writer = Thread {
                let handle = FileHandle(forWritingAtPath: path)!
                let bytes = Array(text.utf8)
                var at = 0
                while at < bytes.count {
                    let end = min(bytes.count, at + 37)
                    handle.write(Data(bytes[at..<end]))
                    at = end
                }
                try? handle.close()
            }
            writer.start()
            let reader = try LineReader(path: path, maxLineBytes: 100, chunkBytes: 64)
            #expect(reader.size == nil)
            let got = try lines(reader)
            #expect(got.map(\.1) == (1...200).map { "{\"n\":\($0)}" })
            #expect(reader.bytesRead == Int64(text.utf8.count))
        }
    }

    @Test("skipOversized: a line over the limit comes cut to its prefix with its full length and offsets, at any chunk size; the next lines follow")
    func skipOversized() throws {
        try withTempDir { dir in
            let long = String(repeating: "x", count: 10_000)
            let path = try write("short\n\(long)\nafter\n\(long)", in: dir)
            for chunk in [1, 7, 64, 4096, 1 << 20] {
                let reader = try LineReader(path: path, maxLineBytes: 100, chunkBytes: chunk, completeLinesOnly: true, skipOversized: true)
                var got: [(String, Int, Int64, Int64)] = []
                while let line = try reader.next() {
                    got.append((String(decoding: line.bytes, as: UTF8.self), line.fullLength, line.offset, line.endOffset))
                }
                // The limit (100) is below the kept prefix (4096): 100 bytes are kept. The torn
                // oversized last line waits.
                #expect(got.map(\.0) == ["short", String(repeating: "x", count: 100), "after"], "chunk \(chunk)")
                #expect(got.map(\.1) == [5, 10_000, 5], "chunk \(chunk)")
                #expect(got.map(\.2) == [0, 6, 10_007] && got.map(\.3) == [6, 10_007, 10_013], "chunk \(chunk)")
            }
            let big = try LineReader(path: path, maxLineBytes: 8_000, chunkBytes: 512, skipOversized: true)
            var cut: [Int] = []
            while let line = try big.next() { cut.append(line.isCut ? line.bytes.count : -1) }
            // A limit above the prefix keeps 4,096 bytes; the unterminated last line is handed out (not completeLinesOnly).
            #expect(cut == [-1, LineReader.oversizedPrefix, -1, LineReader.oversizedPrefix])
        }
    }
}
