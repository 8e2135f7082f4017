import Tokens
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingest
import Logging
import MarketplaceCore
import PostgresNIO
import Redis
import Storage
import Testing
import TestSupport

@testable import Server

/// Rate limits shared through Redis, and CORS.
@Suite(.timeLimit(.minutes(10))) struct ProtectionTests {
    @Test func theLimitIs429WithHeadersAndSharedByTwoInstances() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                let seeded = try await CompaniesAPITests.seed(database, contacts: 5)
                // A subject of this test's own, so no other test's requests count.
                let issuer = await TokenIssuer(secret: CompaniesAPITests.secret, lifetime: .seconds(600))
                let token = try await issuer.companyToken(seeded.a, subject: "rate-\(UUID().uuidString)")
                let overrides = ["RATE_LIMIT_REQUESTS": "5", "RATE_LIMIT_WINDOW": "60"]
                let first = buildApplication(try await TestApp.dependencies(overrides, database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                let second = buildApplication(try await TestApp.dependencies(overrides, database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                let path = "/api/companies/\(seeded.a)/contacts"
                try await first.test(.router) { one in
                    try await second.test(.router) { two in
                        for index in 0..<5 {
                            let client = index.isMultiple(of: 2) ? one : two
                            let response = try await client.execute(uri: path, method: .get, headers: CompaniesAPITests.bearer(token))
                            #expect(response.status == .ok)
                            #expect(response.headers[.rateLimitLimit] == "5")
                            #expect(response.headers[.rateLimitRemaining] == String(4 - index))
                        }
                        // The sixth, on either instance, is over the shared limit.
                        for client in [one, two] {
                            let refused = try await client.execute(uri: path, method: .get, headers: CompaniesAPITests.bearer(token))
                            #expect(refused.status == .tooManyRequests)
                            #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 >= 1)
                            #expect(refused.headers[.rateLimitRemaining] == "0")
                            #expect(String(buffer: refused.body).contains("\"code\":\"rate_limited\""))
                        }
                        // Another principal has its own budget.
                        let otherToken = try await issuer.companyToken(seeded.a, subject: "rate-other-\(UUID().uuidString)")
                        let other = try await client(two, path: path, token: otherToken)
                        #expect(other == .ok)
                    }
                }
            }
        }
    }

    func client(_ client: any TestClientProtocol, path: String, token: String) async throws -> HTTPResponse.Status {
        try await client.execute(uri: path, method: .get, headers: CompaniesAPITests.bearer(token)).status
    }

    /// The limiter sends the script's SHA-1; a Redis that forgot its scripts (restarted, `SCRIPT FLUSH`) gets the body
    /// once and counts in Redis as before, not in the local fallback.
    @Test func theScriptIsSentByItsHashAndReloadedWhenRedisForgotIt() async throws {
        let configuration = try TestEnvironment.configuration()
        let redis = RedisClient(configuration: configuration.redis, logger: TestEnvironment.logger)
        #expect(try await redis.send("SCRIPT", "LOAD", RedisArgument(RateLimiter.script)).string == RateLimiter.scriptSHA)
        try await redis.send("SCRIPT", "FLUSH")
        // A generous timeout: on a loaded machine a call past the default 100 ms would be counted locally instead.
        let limiter = RateLimiter(redis: redis, limit: 2, window: .seconds(60), timeout: .seconds(10), logger: TestEnvironment.logger)
        let principal = "script-\(UUID().uuidString)"
        let decisions = [await limiter.check(group: "g", principal: principal), await limiter.check(group: "g", principal: principal),
                         await limiter.check(group: "g", principal: principal)]
        #expect(decisions.map(\.allowed) == [true, true, false])
        #expect(try await redis.send("GET", RedisArgument("ratelimit:g:\(principal)")).integer == 3, "counted in Redis")
        #expect(try await redis.send("SCRIPT", "EXISTS", RedisArgument(RateLimiter.scriptSHA)) == .array([.integer(1)]))
    }

    /// A limit of 5,000 is taken from Redis five requests at a time: two instances sharing one key call Redis a
    /// fifth as often and together let exactly the limit through.
    @Test func highLimitsAreLeasedFromRedisAndNeverPassedTogether() async throws {
        let configuration = try TestEnvironment.configuration()
        let redis = RedisClient(configuration: configuration.redis, logger: TestEnvironment.logger)
        func instance() -> RateLimiter {
            RateLimiter(redis: redis, limit: 5000, window: .seconds(600), timeout: .seconds(10), logger: TestEnvironment.logger)
        }
        let (first, second) = (instance(), instance())
        #expect(first.leaseSize == 5)
        let principal = "lease-\(UUID().uuidString)"
        let key = RedisArgument("ratelimit:g:\(principal)")

        var decisions: [RateLimiter.Decision] = []
        for _ in 0..<11 { decisions.append(await first.check(group: "g", principal: principal)) }
        #expect(decisions.allSatisfy { $0.allowed })
        #expect(try await redis.send("GET", key).integer == 15, "three leases of five for eleven requests")
        #expect(decisions.map(\.remaining).prefix(6) == [4999, 4998, 4997, 4996, 4995, 4994])

        var allowed = 11
        for round in 0..<2600 {
            if await first.check(group: "g", principal: principal).allowed { allowed += 1 }
            if await second.check(group: "g", principal: principal).allowed { allowed += 1 }
            _ = round
        }
        // 5,211 asked for: Redis granted exactly the limit (the last lease in part), and the two spent all of it.
        #expect(allowed == 5000, "the two together let the limit through, no more: \(allowed)")
        #expect(await second.check(group: "g", principal: principal).allowed == false)
        #expect(RateLimiter(redis: redis, limit: 1999, window: .seconds(60), logger: TestEnvironment.logger).leaseSize == 1)
    }

    @Test func localCountingWhenRedisIsUnreachable() async throws {
        var configuration = try TestEnvironment.configuration(["REDIS_URL": "redis://127.0.0.1:1/0"])
        configuration.redis.connectTimeout = .milliseconds(50)
        let redis = RedisClient(configuration: configuration.redis, logger: TestEnvironment.logger)
        let limiter = RateLimiter(redis: redis, limit: 2, window: .seconds(60), logger: TestEnvironment.logger)
        let decisions = [await limiter.check(group: "g", principal: "p"), await limiter.check(group: "g", principal: "p"),
                         await limiter.check(group: "g", principal: "p")]
        #expect(decisions.map(\.allowed) == [true, true, false])
        #expect(decisions.last?.remaining == 0)
    }

    @Test func corsAnswersPreflightsForAllowedOriginsOnly() async throws {
        try await TestApp.test(.router, ["CORS_ALLOWED_ORIGINS": "https://app.example.com"]) { client in
            let preflight = try await client.execute(uri: "/api/companies", method: .options, headers: [
                .origin: "https://app.example.com", .accessControlRequestMethod: "GET", .accessControlRequestHeaders: "Authorization",
            ])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://app.example.com")
            #expect(preflight.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
            let unknown = try await client.execute(uri: "/api/companies", method: .options, headers: [
                .origin: "https://evil.example", .accessControlRequestMethod: "GET",
            ])
            #expect(unknown.headers[.accessControlAllowOrigin] == nil)
            let simple = try await client.execute(uri: "/health", method: .get, headers: [.origin: "https://app.example.com"])
            #expect(simple.headers[.accessControlAllowOrigin] == "https://app.example.com")
            #expect(simple.headers[.vary] == "Origin")
            let refused = try await client.execute(uri: "/api/companies", method: .get, headers: [.origin: "https://app.example.com"])
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.accessControlAllowOrigin] == "https://app.example.com")
        }
    }

    /// `*` never echoes an origin with credentials allowed: any site could then read answers with the user's cookies.
    @Test func aWildcardOriginNeverAllowsCredentials() async throws {
        try await TestApp.test(.router, ["CORS_ALLOWED_ORIGINS": "*"]) { client in
            let simple = try await client.execute(uri: "/health", method: .get, headers: [.origin: "https://evil.example"])
            #expect(simple.headers[.accessControlAllowOrigin] == "*")
            #expect(simple.headers[.accessControlAllowCredentials] == nil)
            let preflight = try await client.execute(uri: "/api/companies", method: .options, headers: [
                .origin: "https://evil.example", .accessControlRequestMethod: "GET",
            ])
            #expect(preflight.headers[.accessControlAllowOrigin] == "*")
            #expect(preflight.headers[.accessControlAllowCredentials] == nil)
        }
        try await TestApp.test(.router, ["CORS_ALLOWED_ORIGINS": "https://app.example.com"]) { client in
            let listed = try await client.execute(uri: "/health", method: .get, headers: [.origin: "https://app.example.com"])
            #expect(listed.headers[.accessControlAllowCredentials] == "true")
        }
    }
}
