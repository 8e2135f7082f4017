import Foundation
import Synchronization

/// A wall clock the test moves by hand: an expiry is reached by moving past it, not by waiting for it.
public final class MovableClock: Sendable {
    private let current: Mutex<Date>

    public init(_ start: Date = Date()) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}
