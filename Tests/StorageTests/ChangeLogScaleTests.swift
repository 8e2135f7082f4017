import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// A company whose feed holds a million changes, beside a hundred thousand of other companies': the reads the feed
/// sends (from the start, from the middle, near the end, filtered to one resource, and the all-company feed) walk an
/// index, never the table, and never sort. Each statement is the one the code sends, explained with its binds.
@Suite(.timeLimit(.minutes(10))) struct ChangeLogScaleTests {
    static let logger = TestEnvironment.logger
    static let rows = 1_000_000

    @Test func aMillionChangeFeedIsReadWithIndexScansOnly() async throws {
        try await TestDatabase.withClient { database in
            let company = UUID()
            try await database.withConnection { db in
                // One old transaction id for every row (3, the first normal one), so every position is below the oldest
                // running transaction of any cluster, a fresh one too; `seq` orders them.
                try await db.query("""
                    INSERT INTO changes (xid, seq, company_id, resource, resource_id, external_id, kind, occurred_at, data)
                    SELECT '3'::xid8, g, \(company),
                           (ARRAY['contacts', 'locations', 'products', 'companies'])[g % 4 + 1], gen_random_uuid(), 'e' || g,
                           CASE WHEN g % 10 = 0 THEN 'created' ELSE 'updated' END, now() - (\(Self.rows) - g) * interval '1 second',
                           jsonb_build_object('id', g)
                    FROM generate_series(1, \(Self.rows)) AS g
                    """, logger: Self.logger)
                try await db.query("""
                    INSERT INTO changes (xid, seq, company_id, resource, resource_id, external_id, kind, data)
                    SELECT '3'::xid8, \(Self.rows) + g, gen_random_uuid(), 'contacts', gen_random_uuid(), 'o' || g, 'updated', '{}'
                    FROM generate_series(1, 100000) AS g
                    """, logger: Self.logger)
                try await db.query("ANALYZE changes", logger: Self.logger)
            }
            let reads: [(String, PostgresQuery)] = [
                ("from the start", ChangesTable.readQuery(companyId: company, after: ChangePosition(xid: 0, seq: 0), resources: nil, limit: 1000)),
                ("from the middle", ChangesTable.readQuery(companyId: company, after: ChangePosition(xid: 3, seq: 500_000), resources: nil, limit: 1000)),
                ("near the end", ChangesTable.readQuery(companyId: company, after: ChangePosition(xid: 3, seq: 999_500), resources: nil, limit: 1000)),
                ("one resource", ChangesTable.readQuery(companyId: company, after: ChangePosition(xid: 3, seq: 500_000), resources: [.contacts], limit: 100)),
                ("every company", ChangesTable.readQuery(companyId: nil, after: ChangePosition(xid: 3, seq: 500_000), resources: nil, limit: 1000)),
            ]
            for (name, query) in reads {
                let plan = try await StorageScaleTests.explain(query, database)
                #expect(plan.contains("Index Scan"), "\(name) walks no index:\n\(plan)")
                #expect(!plan.contains("Seq Scan on changes"), "\(name) reads the whole change log:\n\(plan)")
                #expect(!plan.contains("Sort"), "\(name) sorts:\n\(plan)")
                #expect(plan.contains("CTE Scan on bound"), "\(name) computes the bound once, not once a row:\n\(plan)")
                let verbose = try await StorageScaleTests.explain(query, database, verbose: true)
                #expect(verbose.components(separatedBy: "change_log_bound()").count == 2,
                        "\(name) calls change_log_bound() once, not once for each use of it:\n\(verbose)")
            }
            // And the read itself: a full page in order, resuming exactly where it stopped.
            try await database.withConnection { db in
                let first = try await ChangesTable.read(companyId: company, after: ChangePosition(xid: 3, seq: 500_000), resources: nil,
                                                        limit: 1000, on: db, logger: Self.logger)
                #expect(first.changes.count == 1000)
                #expect(first.hasMore)
                #expect(first.changes.first?.position == ChangePosition(xid: 3, seq: 500_001))
                let next = try await ChangesTable.read(companyId: company, after: first.end, resources: nil, limit: 1, on: db, logger: Self.logger)
                #expect(next.changes.first?.position.seq == 501_001)
            }
        }
    }
}
