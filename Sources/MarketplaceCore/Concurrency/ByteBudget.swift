import Synchronization

/// Bytes that requests hold in memory at once, bounded: a caller reserves before it holds and gives back when
/// it lets go, and a reservation that would pass the capacity is refused (the caller answers 503).
public final class ByteBudget: Sendable {
    public let capacity: Int
    private let used = Mutex(0)

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// Bytes held now.
    public var inUse: Int { used.withLock { $0 } }

    /// Holds `bytes` more and returns the new total, or nil (holding nothing more) when they do not fit.
    public func reserve(_ bytes: Int) -> Int? {
        used.withLock { used -> Int? in
            guard used + bytes <= capacity else { return nil }
            used += bytes
            return used
        }
    }

    /// Gives back `bytes` reserved earlier and returns the new total.
    @discardableResult
    public func release(_ bytes: Int) -> Int {
        used.withLock { used in
            used -= bytes
            return used
        }
    }
}
