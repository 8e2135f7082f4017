import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MarketplaceCore
import NIOCore
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Server

/// A company's tokens do not outlive it: a disconnected company's are refused, and revoked ones are refused by
/// every instance within seconds.
@Suite(.timeLimit(.minutes(10))) struct TokenLifetimeTests {
    /// Polls `request` until it answers `status`; returns how long that took, or nil past `limit`.
    static func time(until status: HTTPResponse.Status, limit: Duration, _ request: () async throws -> HTTPResponse.Status) async throws -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit {
            if try await request() == status { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    @Test func aDisconnectedCompanysTokenIsRefused() async throws {
        try await CompaniesAPITests.withSeeded(contacts: 2) { client, seeded, database in
            let path = "/api/companies/\(seeded.a)/contacts"
            #expect(try await client.execute(uri: path, method: .get, headers: CompaniesAPITests.bearer(seeded.tokenA)).status == .ok)
            _ = try await database.query("UPDATE companies SET status = 'disconnected' WHERE id = \(seeded.a)", logger: TestEnvironment.logger)
            let took = try await Self.time(until: .unauthorized, limit: .seconds(5)) {
                try await client.execute(uri: path, method: .get, headers: CompaniesAPITests.bearer(seeded.tokenA)).status
            }
            #expect(took != nil, "a disconnected company's token must be refused within 5 s")
            let answer = try await client.execute(uri: "/api/companies/\(seeded.a)", method: .get, headers: CompaniesAPITests.bearer(seeded.tokenA))
            #expect(answer.status == .unauthorized)
            #expect(String(buffer: answer.body).contains("disconnected"))
            // An admin token still sees the company and its data.
            #expect(try await client.execute(uri: path, method: .get, headers: CompaniesAPITests.bearer(seeded.admin)).status == .ok)
        }
    }

    /// Two instances on one database: a revocation through one is honoured by the other within 5 s.
    @Test func aRevokedTokenIsRefusedByEveryInstanceWithinFiveSeconds() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                let seeded = try await CompaniesAPITests.seed(database, contacts: 1)
                let first = buildApplication(try await TestApp.dependencies(database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                let second = buildApplication(try await TestApp.dependencies(database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                try await first.test(.router) { one in
                    try await second.test(.router) { two in
                        let path = "/api/companies/\(seeded.a)"
                        let bearer = CompaniesAPITests.bearer(seeded.tokenA)
                        // Both instances have seen (and remember) the company's state.
                        #expect(try await one.execute(uri: path, method: .get, headers: bearer).status == .ok)
                        #expect(try await two.execute(uri: path, method: .get, headers: bearer).status == .ok)
                        let revoke = try await one.execute(
                            uri: "/api/admin/companies/\(seeded.a)/tokens/revoke", method: .post, headers: AdminEndpointsTests.token)
                        #expect(revoke.status == .ok)
                        #expect(String(buffer: revoke.body).contains(#""token_generation":1"#))
                        #expect(try await one.execute(uri: path, method: .get, headers: bearer).status == .unauthorized, "at once where it was revoked")
                        let took = try await Self.time(until: .unauthorized, limit: .seconds(5)) {
                            try await two.execute(uri: path, method: .get, headers: bearer).status
                        }
                        #expect(took != nil, "the other instance refuses the revoked token within 5 s")
                        let unknown = try await one.execute(uri: "/api/admin/companies/\(UUID())/tokens/revoke", method: .post, headers: AdminEndpointsTests.token)
                        #expect(unknown.status == .notFound)
                    }
                }
            }
        }
    }
}
