import Crypto
import Foundation
import Logging
import MarketplaceCore
import Metrics
import Redis
import Synchronization

/// Fixed-window request limits per principal, counted atomically in Redis (one script, one round trip)
/// so every instance shares them; when Redis fails, each instance counts locally until it is back.
///
/// A high limit is counted in leases: one call takes a thousandth of the limit from Redis at once, and this
/// instance spends it before asking again. The shared count never passes the limit (a lease is only what Redis
/// granted, and it is spent only before Redis' window ends), and at most a thousandth of it per instance sits unspent
/// when the window ends; a limit under 2,000 leases one request at a time, as if there were no leases.
///
/// The bound (docs/security.md): while Redis answers within `timeout`, all instances together admit at most `limit`
/// per window. A call that fails or times out is counted in this instance alone, against the full limit: while Redis
/// is down or slower than `timeout`, N instances admit at most `limit` (what Redis granted) plus N × `limit`.
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
    /// Requests taken from Redis at once.
    let leaseSize: Int
    /// Requests granted by Redis and not yet spent, by key: only ever holds something when `leaseSize` > 1.
    private let leases = Mutex<[String: Lease]>([:])

    struct Lease {
        /// Granted and not yet spent.
        var unspent: Int
        /// The shared count just after the grant.
        var counted: Int
        var windowEnds: ContinuousClock.Instant
    }

    init(redis: RedisClient, limit: Int, window: Duration, timeout: Duration = .milliseconds(100), logger: Logger) {
        self.redis = redis
        self.limit = limit
        self.window = window
        self.timeout = timeout
        self.logger = logger
        self.local = LocalRateLimiter(limit: limit, window: window)
        self.leaseSize = max(1, limit / 1000)
    }

    /// INCRBY the window's counter by a lease, start its expiry on the first hit; answer the count and the time left.
    static let script = """
        local count = redis.call('INCRBY', KEYS[1], ARGV[2])
        if count == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
        return {count, ttl}
        """

    /// Redis keeps scripts it has run by their SHA-1: sending that instead of the body spares hashing it per call.
    static let scriptSHA = Hex.encode(Insecure.SHA1.hash(data: Data(script.utf8)))

    var windowMilliseconds: Int { Int(window / .milliseconds(1)) }

    func check(group: String, principal: String) async -> Decision {
        let key = "ratelimit:\(group):\(principal)"
        if leaseSize > 1, let decision = spendLeased(key, now: .now) { return decision }
        let asked = ContinuousClock.now
        do {
            let arguments: [RedisArgument] = ["1", RedisArgument(key), RedisArgument(windowMilliseconds), RedisArgument(leaseSize)]
            let reply = try await evaluate(arguments)
            guard case .array(let parts) = reply, parts.count == 2, let count = parts[0].integer, let ttl = parts[1].integer else {
                throw RedisError.unexpectedReply("rate limit script: \(reply)")
            }
            return granted(key, count: count, millisecondsLeft: ttl, askedAt: asked)
        } catch {
            Counter(label: "rate_limit_fallback_total").increment()
            return local.check(key)
        }
    }

    /// One request out of this instance's lease on `key`, if it holds one for the current window.
    func spendLeased(_ key: String, now: ContinuousClock.Instant) -> Decision? {
        leases.withLock { leases -> Decision? in
            guard var lease = leases[key], lease.unspent > 0, now < lease.windowEnds else { return nil }
            lease.unspent -= 1
            leases[key] = lease
            let millisecondsLeft = Int(((lease.windowEnds - now) / .milliseconds(1)).rounded(.up))
            return decision(allowed: true, remaining: limit - lease.counted + lease.unspent, millisecondsLeft: millisecondsLeft)
        }
    }

    /// What Redis granted of a lease that brought the shared count to `count`: this request, and the rest kept. The
    /// window's end is reckoned from when the call was sent (`askedAt`): Redis read its time left after that, so the
    /// lease ends no later than Redis' window does and is never spent in the next one, however slow the reply.
    func granted(_ key: String, count: Int, millisecondsLeft: Int, askedAt: ContinuousClock.Instant, now: ContinuousClock.Instant = .now) -> Decision {
        let granted = max(0, min(leaseSize, limit - (count - leaseSize)))
        guard granted > 0 else { return decision(count: count, millisecondsLeft: millisecondsLeft) }
        var unspent = granted - 1
        if leaseSize > 1 {
            let windowEnds = askedAt + .milliseconds(millisecondsLeft)
            unspent = leases.withLock { leases in
                // A reply whose window has already ended keeps nothing: it must not replace a newer window's lease.
                guard now < windowEnds else { return 0 }
                if leases[key] == nil, leases.count >= Self.maxLeases {
                    leases = leases.filter { now < $0.value.windowEnds }
                    // Still full of live leases: this one is not kept (its rest goes unspent; the limit still holds).
                    guard leases.count < Self.maxLeases else { return 0 }
                }
                // Leases of one window add up (callers that found the lease empty together each asked for one); a
                // lease of an earlier window adds nothing, its count included.
                let live = leases[key].flatMap { now < $0.windowEnds ? $0 : nil }
                leases[key] = Lease(unspent: (live?.unspent ?? 0) + unspent, counted: max(count, live?.counted ?? 0), windowEnds: windowEnds)
                return (live?.unspent ?? 0) + unspent
            }
        }
        return decision(allowed: true, remaining: limit - count + unspent, millisecondsLeft: millisecondsLeft)
    }

    /// Principals holding a lease at once, at most: bounded memory whoever sends requests.
    static let maxLeases = 10_000

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
        decision(allowed: count <= limit, remaining: limit - count, millisecondsLeft: millisecondsLeft)
    }

    private func decision(allowed: Bool, remaining: Int, millisecondsLeft: Int) -> Decision {
        Decision(allowed: allowed, limit: limit, remaining: max(0, remaining), reset: max(1, (millisecondsLeft + 999) / 1000))
    }
}
