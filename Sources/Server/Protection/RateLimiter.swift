import Foundation
import Logging
import MarketplaceCore
import Metrics
import Redis
import Synchronization

/// Fixed-window request limits per principal, counted atomically in Redis (one script, one round trip)
/// so every instance shares them; when Redis fails, each instance counts locally until it is back.
final class RateLimiter: Sendable {
    struct Decision: Sendable, Equatable {
        var allowed: Bool
        var limit: Int
        var remaining: Int
        /// Seconds until the window resets.
        var reset: Int
    }

    let redis: RedisClient
    let limit: Int
    let window: Duration
    let timeout: Duration
    let logger: Logger
    let local = Mutex<[String: (count: Int, resetAt: ContinuousClock.Instant)]>([:])

    init(redis: RedisClient, limit: Int, window: Duration, timeout: Duration = .milliseconds(100), logger: Logger) {
        self.redis = redis
        self.limit = limit
        self.window = window
        self.timeout = timeout
        self.logger = logger
    }

    /// INCR the window's counter, start its expiry on the first hit; answer the count and the time left.
    static let script = """
        local count = redis.call('INCR', KEYS[1])
        if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
        return {count, ttl}
        """

    var windowMilliseconds: Int { Int(window / .milliseconds(1)) }

    func check(group: String, principal: String) async -> Decision {
        let key = "ratelimit:\(group):\(principal)"
        do {
            let reply = try await redis.send(
                ["EVAL", RedisArgument(Self.script), "1", RedisArgument(key), RedisArgument(windowMilliseconds)], timeout: timeout)
            guard case .array(let parts) = reply, parts.count == 2, let count = parts[0].integer, let ttl = parts[1].integer else {
                throw RedisError.unexpectedReply("rate limit script: \(reply)")
            }
            return decision(count: count, millisecondsLeft: ttl)
        } catch {
            Counter(label: "rate_limit_fallback_total").increment()
            let now = ContinuousClock.now
            let (count, left) = local.withLock { counters -> (Int, Duration) in
                var entry = counters[key] ?? (0, now + window)
                if entry.resetAt <= now { entry = (0, now + window) }
                entry.count += 1
                counters[key] = entry
                if counters.count > 100_000 { counters = counters.filter { $0.value.resetAt > now } }
                return (entry.count, entry.resetAt - now)
            }
            return decision(count: count, millisecondsLeft: Int(left / .milliseconds(1)))
        }
    }

    func decision(count: Int, millisecondsLeft: Int) -> Decision {
        Decision(allowed: count <= limit, limit: limit, remaining: max(0, limit - count), reset: max(1, (millisecondsLeft + 999) / 1000))
    }
}
