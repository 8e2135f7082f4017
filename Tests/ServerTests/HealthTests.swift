import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Storage
import Testing
import TestSupport

@testable import Server

@Suite(.timeLimit(.minutes(10))) struct HealthTests {
    @Test(arguments: [TestingSetup.router, .live])
    func everyHealthEndpointIsUpWithPostgresAndRedis(_ setup: TestingSetup) async throws {
        try await TestApp.test(setup) { client in
            for path in ["/health", "/health/live"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok)
                    let body = try TestApp.json(response.body)
                    #expect(body["status"] as? String == "ok")
                }
            }
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .ok)
                let body = try TestApp.json(response.body)
                let postgres = (body["checks"] as? [String: Any])?["postgres"] as? [String: Any]
                #expect(postgres?["status"] as? String == "up")
                #expect((postgres?["migrations"] as? [String: Any])?["pending"] as? [String] == [])
            }
            try await client.execute(uri: "/health/detailed", method: .get) { response in
                #expect(response.status == .ok)
                let body = try TestApp.json(response.body)
                #expect(body["status"] as? String == "ok")
                #expect(body["version"] as? String != nil)
                #expect(body["uptime_seconds"] as? Int != nil)
                let checks = body["checks"] as? [String: [String: Any]]
                #expect(checks?["redis"]?["status"] as? String == "up")
                #expect(checks?["postgres"]?["latency_ms"] as? Double != nil)
                #expect((checks?["postgres"]?["pool"] as? [String: Int])?["max_connections"] == 8)
            }
        }
    }

    @Test func detailedIsDegradedWhenRedisIsUnreachable() async throws {
        try await TestApp.test(.router, ["REDIS_URL": "redis://127.0.0.1:1"]) { client in
            // The error's text only with the admin token (ExposureTests checks the public answer).
            try await client.execute(uri: "/health/detailed", method: .get, headers: [.adminToken: "test-admin-token-0123456789"]) { response in
                #expect(response.status == .ok)
                let body = try TestApp.json(response.body)
                #expect(body["status"] as? String == "degraded")
                let redis = (body["checks"] as? [String: [String: Any]])?["redis"]
                #expect(redis?["status"] as? String == "down")
                #expect((redis?["error"] as? String)?.isEmpty == false)
            }
            // Redis is not needed for readiness.
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func readinessFailsFastWhenPostgresIsUnreachable() async throws {
        let dependencies = try await TestApp.dependencies(["DATABASE_URL": "postgres://nobody:pw@127.0.0.1:1/none", "DB_FAST_TIMEOUT_MS": "2000"])
        let app = buildApplication(dependencies, port: 0, migrateOnStart: false, backgroundJobs: false)
        try await app.test(.router) { client in
            for path in ["/health/ready", "/health/detailed"] {
                let start = ContinuousClock.now
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    let body = try TestApp.json(response.body)
                    #expect(body["status"] as? String == "down")
                    let postgres = (body["checks"] as? [String: [String: Any]])?["postgres"]
                    #expect(postgres?["status"] as? String == "down")
                    #expect(!(String(describing: body).contains("pw@")))
                }
                // Bounded by the check's timeout, not the pool's minute-long wait; a loaded machine adds seconds.
                #expect(ContinuousClock.now - start < .seconds(20), "\(path) must answer within seconds")
            }
            try await client.execute(uri: "/health/live", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func readinessWaitsForMigrationsAndTheMigrationServiceAppliesThem() async throws {
        try await TestDatabase.with { database in
            let unmigrated = buildApplication(try await TestApp.dependencies(database: database), port: 0, migrateOnStart: false, backgroundJobs: false)
            try await unmigrated.test(.router) { client in
                try await client.execute(uri: "/health/ready", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    let body = try TestApp.json(response.body)
                    let postgres = (body["checks"] as? [String: [String: Any]])?["postgres"]
                    #expect(postgres?["error"] as? String == "migrations pending")
                }
            }
            let migrating = buildApplication(try await TestApp.dependencies(database: database), port: 0, migrateOnStart: true, backgroundJobs: false)
            try await migrating.test(.router) { client in
                var status = HTTPResponse.Status.serviceUnavailable
                // A bound for a hang, not a timing claim: when the whole suite starts at once, creating its databases
                // has held Postgres for most of a minute.
                let deadline = ContinuousClock.now + .seconds(100)
                while status != .ok, ContinuousClock.now < deadline {
                    status = try await client.execute(uri: "/health/ready", method: .get).status
                    if status != .ok { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(status == .ok)
            }
        }
    }
}
