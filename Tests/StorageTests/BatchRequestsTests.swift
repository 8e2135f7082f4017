import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// Ops' actions on every company ask for thousands of backfills and full resyncs at once: one statement each, with
/// the same rules as asking for one (a running request joined, a finished one started over).
@Suite(.timeLimit(.minutes(10))) struct BatchRequestsTests {
    static let logger = TestEnvironment.logger

    static func rows(_ sql: String, _ database: Database) async throws -> [String] {
        try await database.withConnection { db in
            var rows: [String] = []
            for try await row in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String.self) { rows.append(row) }
            return rows
        }
    }

    @Test func manyBackfillsAtOnceKeepEachRunningCursorAndRestartFinishedOnes() async throws {
        try await TestDatabase.withClient { database in
            let (a, b, c) = try await database.withConnection { db in
                var ids: [UUID] = []
                for n in 1...3 {
                    let rows = try await db.query("""
                        INSERT INTO companies (connection_id, integration_id, provider) VALUES (\("c\(n)"), 'hubspot', 'hubspot') RETURNING id
                        """, logger: Self.logger)
                    ids.append(try await rows.collect()[0].decode(UUID.self))
                }
                return (ids[0], ids[1], ids[2])
            }
            try await database.withConnection { db in
                try await BackfillsTable.request(pipeline: "p", companyId: a, model: "Contact", on: db, logger: Self.logger)
                try await BackfillsTable.request(pipeline: "p", companyId: b, model: "Contact", on: db, logger: Self.logger)
                _ = try await db.query("UPDATE pipeline_backfills SET cursor = 'running-at-7' WHERE company_id = \(a)", logger: Self.logger)
                _ = try await db.query("UPDATE pipeline_backfills SET cursor = 'ended', finished_at = now() WHERE company_id = \(b)", logger: Self.logger)
                // c twice in one batch: the later model wins, and the statement does not touch its row twice.
                try await BackfillsTable.request(all: [("p", a, "Contact"), ("p", b, "Contact"), ("p", c, "Contact"), ("p", c, "Deal")],
                                                 on: db, logger: Self.logger)
            }
            let rows = try await Self.rows("""
                SELECT c.connection_id || ' ' || b.model || ' ' || coalesce(b.cursor, '-') || ' ' || (b.finished_at IS NULL)
                FROM pipeline_backfills b JOIN companies c ON c.id = b.company_id ORDER BY c.connection_id
                """, database)
            #expect(rows == ["c1 Contact running-at-7 true", "c2 Contact - true", "c3 Deal - true"])
        }
    }

    @Test func manyFullResyncsAtOnceJoinTheOnesStillOpen() async throws {
        try await TestDatabase.withClient { database in
            let one = ConnectionIdentity(integrationId: "hubspot", connectionId: "c1")
            let two = ConnectionIdentity(integrationId: "hubspot", connectionId: "c2")
            try await database.withConnection { db in
                try await FullResyncsTable.request(one, model: "Contact", reason: "earlier", on: db, logger: Self.logger)
                try await FullResyncsTable.request(
                    all: [(one, "Contact", "ops"), (two, "Contact", "ops"), (two, "Contact", "ops again"), (two, "Deal", "ops")], on: db, logger: Self.logger)
            }
            let rows = try await Self.rows(
                "SELECT connection_id || ' ' || model || ' ' || reason FROM full_resyncs WHERE finished_at IS NULL ORDER BY connection_id, model", database)
            #expect(rows == ["c1 Contact earlier", "c2 Contact ops", "c2 Deal ops"])
        }
    }
}
