import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MarketplaceCore
import Pipeline
import PostgresNIO
import Query
import Redis
import Storage
import Testing
import TestSupport

@testable import Server

/// The read cache against real Redis: versioned keys, compression, and the fallback when Redis dies.
@Suite(.serialized, .timeLimit(.minutes(10))) struct QueryCacheTests {
    /// With Redis down, the in-process fallback keeps at most its byte budget: the oldest pages go first, and a page
    /// larger than the whole budget is answered but not kept (`limit=500&include=raw` pages cannot grow memory).
    @Test func theFallbackCacheIsBoundedInBytes() async throws {
      try await TestDatabase.withClient { database in
        let unreachable = try TestEnvironment.configuration(["REDIS_URL": "redis://127.0.0.1:1/0", "REDIS_TIMEOUT_MS": "500"]).redis
        let redis = RedisClient(configuration: unreachable, logger: TestEnvironment.logger)
        let cache = QueryCache(
            redis: redis, database: database,
            configuration: .init(ttl: .seconds(60), redisTimeout: .milliseconds(500), localBytes: 250_000), logger: TestEnvironment.logger)
        let company = UUID()
        let page = String(repeating: "x", count: 100_000)
        func read(_ request: String, _ body: String = page) async throws -> QueryCache.Outcome {
            try await cache.value(companyId: company, resource: .lists(.contacts), request: request) { body }.1
        }
        #expect(try await read("a") == .fallbackMiss)
        #expect(try await read("b") == .fallbackMiss)
        #expect(try await read("c") == .fallbackMiss)   // 300 KB > 250 KB: "a" is evicted
        #expect(try await read("c") == .localHit)
        #expect(try await read("b") == .localHit)
        #expect(try await read("a") == .fallbackMiss, "the oldest page went first")
        let huge = String(repeating: "y", count: 300_000)
        #expect(try await read("huge", huge) == .fallbackMiss)
        #expect(try await read("huge", huge) == .fallbackMiss, "a page over the whole budget is never kept")
        #expect(try await read("a") == .localHit, "and it evicted nothing")
      }
    }

    /// Two instances: what one stored in Redis the other reads from Redis once, then from its own store; a committed
    /// version bump makes both stores' entries unreachable at once.
    @Test func anEntryComesFromRedisOnceThenFromThisProcessUntilItsVersionMoves() async throws {
      try await TestDatabase.withClient { database in
        let company = UUID()
        _ = try await database.query(
            "INSERT INTO companies (id, connection_id, integration_id, provider) VALUES (\(company), 'cache-two', 'hubspot', 'hubspot')",
            logger: TestEnvironment.logger)
        let redisConfiguration = try TestEnvironment.configuration().redis
        let redis = RedisClient(configuration: redisConfiguration, logger: TestEnvironment.logger)
        let one = QueryCache(redis: redis, database: database, configuration: .init(ttl: .seconds(60)), logger: TestEnvironment.logger)
        let two = QueryCache(redis: redis, database: database, configuration: .init(ttl: .seconds(60)), logger: TestEnvironment.logger)
        func read(_ cache: QueryCache, _ body: String) async throws -> (String, QueryCache.Outcome) {
            let (bytes, outcome) = try await cache.value(companyId: company, resource: .lists(.contacts), request: "page") { body }
            return (String(buffer: bytes), outcome)
        }
        #expect(try await read(one, "first") == ("first", .miss))
        #expect(try await read(two, "unused") == ("first", .hit))
        #expect(try await read(two, "unused") == ("first", .localHit))
        #expect(try await read(one, "unused") == ("first", .localHit))
        try await database.write(fencedBy: nil, logger: TestEnvironment.logger) { transaction in
            transaction.changed(companyId: company, [.contacts])
        }
        #expect(try await read(two, "second") == ("second", .miss))
        #expect(try await read(one, "unused") == ("second", .hit))
      }
    }

    @Test func largeEntriesAreCompressedAndRoundTrip() {
        let body = "{\"data\":[" + (1...500).map { "{\"id\":\"\($0)\",\"display_name\":\"Person \($0)\",\"email\":\"person\($0)@example.com\"}" }
            .joined(separator: ",") + "]}"
        let stored = CacheEntryCodec.encode(ByteBuffer(string: body), threshold: 4096)
        #expect(stored.first == 0x01)
        #expect(stored.count < body.utf8.count / 3)
        #expect(CacheEntryCodec.decode(stored) == ByteBuffer(string: body))
        let plain = CacheEntryCodec.encode(ByteBuffer(string: body), threshold: 256 << 10)
        #expect(plain.first == 0x00, "a page below the threshold is kept as is: a hit inflates nothing")
        #expect(CacheEntryCodec.decode(plain) == ByteBuffer(string: body))
        let small = CacheEntryCodec.encode(ByteBuffer(string: "{}"), threshold: 4096)
        #expect(small == [0x00] + Array("{}".utf8))
        #expect(CacheEntryCodec.decode([0x07, 1, 2]) == nil)
    }

    static func withApp(redis: RedisProcess, _ body: @escaping @Sendable (any TestClientProtocol, CompaniesAPITests.Seeded, Dependencies) async throws -> Void) async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                let seeded = try await CompaniesAPITests.seed(database, contacts: 60)
                let dependencies = try await TestApp.dependencies(
                    ["REDIS_URL": "redis://127.0.0.1:\(redis.port)/0"], database: configuration)
                let app = buildApplication(dependencies, port: 0, migrateOnStart: false, backgroundJobs: false)
                try await app.test(.router) { client in try await body(client, seeded, dependencies) }
            }
        }
    }

    /// A write committed with its version bump (as a sync's page is) is seen at once by every instance, though Redis
    /// was never told (the old design bumped Redis after the commit: a lost bump left every instance stale until the TTL).
    @Test func aCommittedWriteIsSeenByEveryInstanceWhateverRedisMissed() async throws {
        let redis = try await RedisProcess.start()
        defer { Task { try? await redis.kill() } }
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                let seeded = try await CompaniesAPITests.seed(database, contacts: 30)
                let overrides = ["REDIS_URL": "redis://127.0.0.1:\(redis.port)/0"]
                let first = buildApplication(try await TestApp.dependencies(overrides, database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                let second = buildApplication(try await TestApp.dependencies(overrides, database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                try await first.test(.router) { one in
                    try await second.test(.router) { two in
                        func name(_ client: any TestClientProtocol) async throws -> String? {
                            let response = try await client.execute(
                                uri: "/api/companies/\(seeded.a)/contacts?limit=1&sort=name", method: .get, headers: CompaniesAPITests.bearer(seeded.tokenA))
                            #expect(response.status == .ok)
                            return (try TestApp.json(response.body)["data"] as? [[String: Any]])?.first?["display_name"] as? String
                        }
                        for instance in [one, two] {
                            #expect(try await name(instance) == "Person 000001")
                            #expect(try await name(instance) == "Person 000001")
                        }
                        #expect(try await redis.keyCount(matching: "cache:entry:*") >= 1, "the answers are cached in Redis")
                        try await database.write(fencedBy: nil, logger: TestEnvironment.logger) { transaction in
                            try await transaction.connection.query(
                                "UPDATE contacts SET display_name = 'Aaron' WHERE external_id = 'c-1'", logger: TestEnvironment.logger)
                            transaction.changed(companyId: seeded.a, [.contacts])
                        }
                        #expect(try await name(one) == "Aaron")
                        #expect(try await name(two) == "Aaron")
                    }
                }
            }
        }
    }

    @Test func aVersionBumpMakesTheNextReadFreshAndRedisDownFallsBackThenRecovers() async throws {
        let redis = try await RedisProcess.start()
        defer { Task { try? await redis.kill() } }
        try await Self.withApp(redis: redis) { client, seeded, dependencies in
            let path = "/api/companies/\(seeded.a)/contacts?limit=5&sort=name"
            let headers = CompaniesAPITests.bearer(seeded.tokenA)
            func firstName() async throws -> String? {
                let response = try await client.execute(uri: path, method: .get, headers: headers)
                #expect(response.status == .ok)
                return (try TestApp.json(response.body)["data"] as? [[String: Any]])?.first?["display_name"] as? String
            }
            #expect(try await firstName() == "Person 000001")
            // A write that bypasses the pipeline is not seen: the answer comes from the cache.
            _ = try await dependencies.database.query("UPDATE contacts SET display_name = 'Aaron' WHERE external_id = 'c-1'", logger: TestEnvironment.logger)
            #expect(try await firstName() == "Person 000001")
            // A bump (as the pipeline's writes commit with theirs): the next read is fresh.
            try await dependencies.database.write(fencedBy: nil, logger: TestEnvironment.logger) { transaction in
                transaction.changed(companyId: seeded.a, [.contacts])
            }
            #expect(try await firstName() == "Aaron")

            // Redis dies: a page kept in this process under the current version answers without Redis; a page that
            // is not goes to Redis, which fails, and answers from Postgres; health says degraded.
            try await redis.kill()
            #expect(try await firstName() == "Aaron")
            #expect(!dependencies.cache.isFallbackActive, "the kept page needed no Redis")
            let other = try await client.execute(uri: "/api/companies/\(seeded.a)/contacts?limit=4&sort=name", method: .get, headers: headers)
            #expect(other.status == .ok)
            #expect(dependencies.cache.isFallbackActive)
            let health = try await client.execute(uri: "/health/detailed", method: .get)
            #expect(try TestApp.json(health.body)["status"] as? String == "degraded")
            let ready = try await client.execute(uri: "/health/ready", method: .get)
            #expect(ready.status == .ok)
            // A sync finished while Redis is down is still seen at once.
            try await dependencies.database.write(fencedBy: nil, logger: TestEnvironment.logger) { transaction in
                try await transaction.connection.query("UPDATE contacts SET display_name = 'Abby' WHERE external_id = 'c-1'", logger: TestEnvironment.logger)
                transaction.changed(companyId: seeded.a, [.contacts])
            }
            #expect(try await firstName() == "Abby")

            // Redis is back. The kept page is still served without Redis, so reading it says nothing; the next scrape's
            // PING does.
            let back = try await RedisProcess.start(port: redis.port)
            defer { Task { try? await back.kill() } }
            #expect(try await firstName() == "Abby")
            #expect(dependencies.cache.isFallbackActive, "a page kept in this process never asks Redis")
            var scrapedUp = false
            for _ in 0..<300 where !scrapedUp {
                let metrics = try await client.execute(uri: "/metrics", method: .get)
                scrapedUp = String(buffer: metrics.body).contains("\nredis_up 1")
                if !scrapedUp { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(scrapedUp)
            #expect(!dependencies.cache.isFallbackActive, "the scrape that found Redis up ended the fallback")
            // And reads use the cache again.
            var recovered = false
            let deadline = ContinuousClock.now + .seconds(30)
            var limit = 6
            while !recovered, ContinuousClock.now < deadline {
                // A page not read before each time, so the read goes to Redis.
                let response = try await client.execute(uri: "/api/companies/\(seeded.a)/contacts?limit=\(limit)&sort=name", method: .get, headers: headers)
                #expect(response.status == .ok)
                limit += 1
                recovered = !dependencies.cache.isFallbackActive
                if !recovered { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(recovered)
            _ = try await firstName()
            let (_, outcome) = try await dependencies.cache.value(
                companyId: seeded.a, resource: .lists(.products), request: "x") { "{}" }
            #expect(outcome == .miss)
            let (_, again) = try await dependencies.cache.value(companyId: seeded.a, resource: .lists(.products), request: "x") { "{}" }
            #expect(again == .localHit)
        }
    }
}
