// engram-fuzz: the socket API's frame and request decoders under libFuzzer.
//
//   Tools/fuzz.sh [SECONDS]           builds this with -sanitize=fuzzer and runs it on the corpus
//   engram-fuzz FILE…                 (a plain build) runs each file through the same code once
//
// The code fuzzed is `FuzzTarget.exercise` (EngramServer); the corpus and every crash found
// are in Tests/EngramServerTests/Fixtures/fuzz, which FuzzRegressionTests replays.
import EngramServer
import Foundation

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.exercise(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
@main
enum ReplayInputs {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("engram-fuzz: cannot read \(path)\n".utf8))
                exit(2)
            }
            FuzzTarget.exercise([UInt8](data))
            print("\(path): ok")
        }
    }
}
#endif
