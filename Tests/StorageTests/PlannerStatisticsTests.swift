import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// A synced table that grew from nothing has no planner statistics until autovacuum comes round: taken once, then left
/// alone until a fifth of it changes again.
@Suite(.timeLimit(.minutes(10))) struct PlannerStatisticsTests {
    static let logger = TestEnvironment.logger

    @Test func aTableThatGrewFromNothingIsAnalyzedOnceThenLeftAlone() async throws {
        try await TestDatabase.withClient { database in
            let company = UUID()
            func refresh() async throws -> Bool {
                try await database.withConnection { db in try await ResourceRowsTable.refreshStatisticsIfStale(.contacts, on: db, logger: Self.logger) }
            }
            func analyzed() async throws -> Bool {
                let rows = try await database.query("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'contacts'", logger: Self.logger)
                return try rows[0].decode(Bool.self)
            }
            try await database.withConnection { db in
                // Autovacuum stays out of this database's way: the analysis must be ours.
                try await db.query("ALTER TABLE contacts SET (autovacuum_enabled = false)", logger: Self.logger)
                #expect(try await ResourceRowsTable.refreshStatisticsIfStale(.contacts, on: db, logger: Self.logger) == false, "empty and untouched")
                try await db.query("INSERT INTO companies (id, connection_id, integration_id, provider) VALUES (\(company), 'ps-1', 'hubspot', 'hubspot')",
                                   logger: Self.logger)
                try await db.query("""
                    INSERT INTO contacts (company_id, external_id, display_name, content_hash, raw)
                    SELECT \(company), 'c-' || g, 'Name ' || g, md5(g::text), jsonb_build_object('id', 'c-' || g) FROM generate_series(1, 3000) g
                    """, logger: Self.logger)
                // The session's counters reach the shared statistics when it next goes idle.
                try await db.query("SELECT pg_stat_force_next_flush()", logger: Self.logger)
            }
            #expect(try await analyzed() == false)
            var refreshed = false
            for _ in 0..<100 where !refreshed {
                refreshed = try await refresh()
                if !refreshed { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(refreshed, "3,000 rows written and never analyzed")
            #expect(try await analyzed())
            #expect(try await refresh() == false, "just analyzed")
        }
    }
}
