import Synchronization

/// A flag that is set once and read from any thread (a stop or cancellation request handed to
/// synchronous work).
public final class OnceFlag: Sendable {
    private let value = Mutex(false)

    public init() {}

    public func set() { value.withLock { $0 = true } }

    public var isSet: Bool { value.withLock { $0 } }
}
