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

@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

/// SwiftPM links an executable's entry point under this name: hand over to libFuzzer's driver.
@_cdecl("engram_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { data, size in fuzzOne(data, size) }
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
