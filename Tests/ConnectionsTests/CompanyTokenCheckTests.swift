import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Connections

/// Whether a company's token may still be used, against a database of the test's own: an unknown company, a
/// disconnected one and a revoked generation are each refused for what they are; a revocation is seen at once by the
/// instance that made it.
@Suite(.timeLimit(.minutes(10))) struct CompanyTokenCheckTests {
    static let logger = TestEnvironment.logger

    @Test func eachVerdictForWhatTheCompanyIs() async throws {
        try await TestDatabase.withClient { database in
            let company = try await database.withConnection { db in
                try await db.query("""
                    INSERT INTO companies (connection_id, integration_id, provider, name) VALUES ('c1', 'xero', 'xero', 'C') RETURNING id
                    """, logger: Self.logger).collect()[0].decode(UUID.self)
            }
            // A long memory: only the instance's own revocation may change what it remembers.
            let check = CompanyTokenCheck(database: database, ttl: .seconds(3600))
            #expect(try await check.verdict(companyId: UUID(), tokenGeneration: 0, logger: Self.logger) == .unknownCompany)
            #expect(try await check.verdict(companyId: company, tokenGeneration: 0, logger: Self.logger) == .allowed)
            #expect(try await check.generation(of: company, logger: Self.logger) == 0)
            #expect(try await check.identity(of: company, logger: Self.logger) == ConnectionIdentity(integrationId: "xero", connectionId: "c1"))
            #expect(try await check.revokeAll(companyId: company, logger: Self.logger) == 1)
            #expect(try await check.verdict(companyId: company, tokenGeneration: 0, logger: Self.logger) == .revoked, "seen at once, not after the ttl")
            #expect(try await check.verdict(companyId: company, tokenGeneration: 1, logger: Self.logger) == .allowed)
            #expect(try await check.revokeAll(companyId: UUID(), logger: Self.logger) == nil)
            _ = try await database.withConnection { db in
                try await db.query("UPDATE companies SET status = 'disconnected' WHERE id = \(company)", logger: Self.logger)
            }
            let fresh = CompanyTokenCheck(database: database, ttl: .seconds(3600))
            #expect(try await fresh.verdict(companyId: company, tokenGeneration: 1, logger: Self.logger) == .disconnected)
        }
    }
}
