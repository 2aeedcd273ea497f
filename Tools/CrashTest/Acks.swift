import Foundation

/// Reads the `ack N` lines a child process writes to its standard output (`engram import
/// --ack-lines`, or the atomic writer), as they come.
final class AckReader {
    private let handle: FileHandle
    private var buffer = Data()
    /// How many acknowledgements were read, and the largest N among them.
    private(set) var count = 0
    private(set) var highest = 0

    init(_ pipe: Pipe) { handle = pipe.fileHandleForReading }

    /// Reads until `count` acknowledgements have arrived, or the output ends.
    func wait(for target: Int) {
        while count < target {
            let chunk = handle.availableData
            if chunk.isEmpty { return }
            buffer.append(chunk)
            consumeLines()
        }
    }

    /// Reads what is left once the child is gone (acknowledgements written before a kill count).
    func drain() {
        buffer.append(handle.readDataToEndOfFile())
        buffer.append(0x0A)
        consumeLines()
    }

    private func consumeLines() {
        while let newline = buffer.firstIndex(of: 0x0A) {
            let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
            buffer.removeSubrange(buffer.startIndex...newline)
            if line.hasPrefix("ack "), let n = Int(line.dropFirst(4)) {
                count += 1
                highest = max(highest, n)
            }
        }
    }
}

/// A child killed with SIGKILL after a chosen acknowledgement: how many acknowledgements had
/// arrived when it was killed, the highest acknowledged N (counting those written before the
/// kill), and whether the kill is what ended it.
struct KilledChild {
    let seen: Int
    let highest: Int
    let killedBySignal: Bool

    /// Runs `path` with `arguments`, reads its acknowledgements, and sends SIGKILL `delay`
    /// seconds after the `killAfter`-th one.
    static func run(_ path: String, _ arguments: [String], killAfter: Int, delay: Double = 0) throws -> KilledChild {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: path)
        child.arguments = arguments
        let out = Pipe()
        child.standardOutput = out
        child.standardError = FileHandle.nullDevice
        try child.run()
        let acks = AckReader(out)
        acks.wait(for: killAfter)
        let seen = acks.count
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        acks.drain()
        return KilledChild(seen: seen, highest: acks.highest, killedBySignal: child.terminationReason == .uncaughtSignal)
    }
}
