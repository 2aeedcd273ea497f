import Engram
import EngramServer
import GRPCCore
import Testing

@Suite("gRPC listener: deadlines and statuses")
struct GRPCStatusTests {
    @Test("grpc-timeout headers in every unit are read; a ninth digit, a sign, a missing or unknown unit or a non-ASCII digit is not a timeout")
    func timeoutHeader() {
        #expect(GRPCMethods.timeout("50m") == .milliseconds(50))
        #expect(GRPCMethods.timeout("2H") == .seconds(7200))
        #expect(GRPCMethods.timeout("3M") == .seconds(180))
        #expect(GRPCMethods.timeout("99999999S") == .seconds(99_999_999))
        #expect(GRPCMethods.timeout("7u") == .microseconds(7))
        #expect(GRPCMethods.timeout("12n") == .nanoseconds(12))
        for bad in ["123456789m", "m", "", "5", "5x", "+5m", "-5m", "5 m", "\u{FF15}m"] {
            #expect(GRPCMethods.timeout(bad) == nil, "\(bad)")
        }
    }

    @Test("a cancellation at the call's timeout is DEADLINE_EXCEEDED; before it, or without a timeout, CANCELLED; other errors keep their code")
    func deadlineStatus() {
        let timeout = Duration.milliseconds(50)
        let atDeadline = timeout - GRPCMethods.deadlineSlack
        #expect(GRPCMethods.status(of: CancellationError(), timeout: timeout, elapsed: atDeadline).code == .deadlineExceeded)
        #expect(GRPCMethods.status(of: EngramError(.cancelled, "stopped"), timeout: timeout, elapsed: timeout).code == .deadlineExceeded)
        #expect(GRPCMethods.status(of: CancellationError(), timeout: timeout, elapsed: atDeadline - .microseconds(1)).code == .cancelled)
        #expect(GRPCMethods.status(of: CancellationError(), timeout: nil, elapsed: .seconds(60)).code == .cancelled)
        let notFound = GRPCMethods.status(of: EngramError(.notFound, "no memory x"), timeout: timeout, elapsed: timeout)
        #expect(notFound.code == .notFound && notFound.message == "no memory x")
    }
}
