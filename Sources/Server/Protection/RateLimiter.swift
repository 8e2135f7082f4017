import Crypto
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
    /// While Redis fails, each instance counts on its own.
    let local: LocalRateLimiter

    init(redis: RedisClient, limit: Int, window: Duration, timeout: Duration = .milliseconds(100), logger: Logger) {
        self.redis = redis
        self.limit = limit
        self.window = window
        self.timeout = timeout
        self.logger = logger
        self.local = LocalRateLimiter(limit: limit, window: window)
    }

    /// INCR the window's counter, start its expiry on the first hit; answer the count and the time left.
    static let script = """
        local count = redis.call('INCR', KEYS[1])
        if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
        return {count, ttl}
        """

    /// Redis keeps scripts it has run by their SHA-1: sending that instead of the body spares hashing it per call.
    static let scriptSHA = Hex.encode(Insecure.SHA1.hash(data: Data(script.utf8)))

    var windowMilliseconds: Int { Int(window / .milliseconds(1)) }

    func check(group: String, principal: String) async -> Decision {
        let key = "ratelimit:\(group):\(principal)"
        do {
            let arguments: [RedisArgument] = ["1", RedisArgument(key), RedisArgument(windowMilliseconds)]
            let reply = try await evaluate(arguments)
            guard case .array(let parts) = reply, parts.count == 2, let count = parts[0].integer, let ttl = parts[1].integer else {
                throw RedisError.unexpectedReply("rate limit script: \(reply)")
            }
            return decision(count: count, millisecondsLeft: ttl)
        } catch {
            Counter(label: "rate_limit_fallback_total").increment()
            return local.check(key)
        }
    }

    /// The script by its hash; by its body when Redis forgot it (restarted, or `SCRIPT FLUSH`), which loads it again.
    func evaluate(_ arguments: [RedisArgument]) async throws(RedisError) -> RedisValue {
        do {
            return try await redis.send(["EVALSHA", RedisArgument(Self.scriptSHA)] + arguments, timeout: timeout)
        } catch {
            guard case .server(let message) = error, message.hasPrefix("NOSCRIPT") else { throw error }
            return try await redis.send(["EVAL", RedisArgument(Self.script)] + arguments, timeout: timeout)
        }
    }

    func decision(count: Int, millisecondsLeft: Int) -> Decision {
        Decision(allowed: count <= limit, limit: limit, remaining: max(0, limit - count), reset: max(1, (millisecondsLeft + 999) / 1000))
    }
}

