import Foundation
import MarketplaceCore
import Redis
import Testing
import TestSupport

@testable import Server

/// The rate limit's bound, as docs/security.md states it: while Redis answers in time, all instances together admit
/// at most the limit per window; while it is slower than the limiter's timeout, each instance counts alone against
/// the full limit, so N instances admit at most N × the limit. A lease never outlives Redis' window, and a new
/// window's `RateLimit-Remaining` owes nothing to the last one.
@Suite(.timeLimit(.minutes(10))) struct RateLimitBoundTests {
    static func limiter(limit: Int, port: Int? = nil, timeout: Duration = .seconds(10)) throws -> RateLimiter {
        var configuration = try TestEnvironment.configuration()
        if let port { configuration.redis.port = port }
        let redis = RedisClient(configuration: configuration.redis, logger: TestEnvironment.logger)
        return RateLimiter(redis: redis, limit: limit, window: .seconds(60), timeout: timeout, logger: TestEnvironment.logger)
    }

    /// A reply that took a second to arrive said 4 s were left of the window: those 4 s count from when the call was
    /// sent, not from the reply, so the lease is spent up to Redis' end and not in the second after it.
    @Test func aLeaseEndsWhenRedisWindowEndsHoweverLateTheReply() throws {
        let limiter = try Self.limiter(limit: 5000)
        #expect(limiter.leaseSize == 5)
        let sent = ContinuousClock.now
        let replied = sent + .seconds(1)
        let first = limiter.granted("k", count: 5, millisecondsLeft: 4000, askedAt: sent, now: replied)
        #expect(first.allowed && first.remaining == 4999)
        #expect(limiter.spendLeased("k", now: sent + .milliseconds(3900))?.remaining == 4998, "inside Redis' window")
        #expect(limiter.spendLeased("k", now: sent + .milliseconds(4100)) == nil, "Redis' window has ended: the rest is not spent")
    }

    /// A grant in a new window reports that window's count, not the last one's.
    @Test func aNewWindowsRemainingOwesNothingToTheLastWindow() throws {
        let limiter = try Self.limiter(limit: 5000)
        let start = ContinuousClock.now
        _ = limiter.granted("k", count: 4000, millisecondsLeft: 1000, askedAt: start, now: start)
        #expect(limiter.spendLeased("k", now: start + .milliseconds(10))?.remaining == 1003, "5,000 less the 4,000 counted, plus the 3 still leased")
        let next = start + .milliseconds(1500)
        let fresh = limiter.granted("k", count: 5, millisecondsLeft: 60_000, askedAt: next, now: next)
        #expect(fresh.remaining == 4999)
        #expect(limiter.spendLeased("k", now: next + .milliseconds(10))?.remaining == 4998)
    }

    /// Two instances behind a Redis whose replies come later than their timeout: each counts alone, so together
    /// they admit twice the limit and no more; two on a Redis that answers in time admit the limit.
    @Test func twoInstancesOnASlowRedisAdmitAtMostTwiceTheLimit() async throws {
        let redisPort = try TestEnvironment.configuration().redis.port
        let proxy = try DroppingProxy(to: redisPort)
        defer { proxy.close() }
        let (first, second) = (try Self.limiter(limit: 10, port: proxy.port, timeout: .milliseconds(100)),
                               try Self.limiter(limit: 10, port: proxy.port, timeout: .milliseconds(100)))
        let principal = "slow-\(UUID().uuidString)"
        proxy.delayReplies(by: .milliseconds(400))
        var admitted = 0
        for _ in 0..<15 {
            if await first.check(group: "g", principal: principal).allowed { admitted += 1 }
            if await second.check(group: "g", principal: principal).allowed { admitted += 1 }
        }
        #expect(admitted == 20, "each instance admits the limit on its own count: \(admitted)")
        // The same two on a Redis that answers in time share its count.
        let (third, fourth) = (try Self.limiter(limit: 10), try Self.limiter(limit: 10))
        let shared = "fast-\(UUID().uuidString)"
        var together = 0
        for _ in 0..<15 {
            if await third.check(group: "g", principal: shared).allowed { together += 1 }
            if await fourth.check(group: "g", principal: shared).allowed { together += 1 }
        }
        #expect(together == 10)
    }
}
