import Synchronization

/// Fixed-window counters kept in this process, capped in entries: the limits on unauthenticated routes (an
/// outsider must not grow them without bound), and the shared limiter's fallback while Redis is down.
final class LocalRateLimiter: Sendable {
    let limit: Int
    let window: Duration
    let capacity: Int
    private let counters = Mutex<[String: (count: Int, resetAt: ContinuousClock.Instant)]>([:])

    init(limit: Int, window: Duration, capacity: Int = 100_000) {
        self.limit = limit
        self.window = window
        self.capacity = capacity
    }

    func check(_ key: String) -> RateLimiter.Decision {
        let now = ContinuousClock.now
        let (count, left) = counters.withLock { counters -> (Int, Duration) in
            var entry = counters[key] ?? (0, now + window)
            if entry.resetAt <= now { entry = (0, now + window) }
            entry.count += 1
            if counters[key] == nil, counters.count >= capacity {
                counters = counters.filter { $0.value.resetAt > now }
                // Still full of live windows: start over rather than grow (a flood of addresses resets the counts).
                if counters.count >= capacity { counters.removeAll(keepingCapacity: true) }
            }
            counters[key] = entry
            return (entry.count, entry.resetAt - now)
        }
        return RateLimiter.Decision(
            allowed: count <= limit, limit: limit, remaining: max(0, limit - count),
            reset: max(1, Int((left / .milliseconds(1) + 999) / 1000)))
    }
}
