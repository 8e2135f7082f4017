import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// What the rewrites for scale (StorageScaleTests) still answer: batched retention deletes exactly what the single
/// statement did, the bounded count stops at its cap, the skip scan finds every sync name.
@Suite(.timeLimit(.minutes(10))) struct RetentionAndLookupTests {
    static let logger = TestEnvironment.logger
    static let week = Duration.seconds(7 * 24 * 3600)

    static func ints(_ sql: String, _ database: Database) async throws -> [Int] {
        try await database.withConnection { db in
            var values: [Int] = []
            for try await value in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { values.append(value) }
            return values
        }
    }

    static func execute(_ sql: String, _ database: Database) async throws {
        try await database.withConnection { db in _ = try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
    }

    /// Batches of two over old events where the ones that stay (failed, received, linked to a dead or queued job) sit
    /// between the ones that go, several to one instant: every handled one goes, none of the others.
    @Test func handledEventsGoInBatchesAndTheOthersStay() async throws {
        try await TestDatabase.withClient { database in
            try await Self.execute("""
                INSERT INTO jobs (id, kind, status, finished_at) OVERRIDING SYSTEM VALUE
                VALUES (1, 'sync.run', 'dead', now() - interval '20 days'), (2, 'sync.run', 'queued', NULL), (3, 'sync.run', 'succeeded', now() - interval '20 days')
                """, database)
            // id: n; the same instant for runs of three; status and job by n.
            try await Self.execute("""
                INSERT INTO webhook_events (id, received_at, type, dedupe_key, raw_body, status, job_id) OVERRIDING SYSTEM VALUE
                SELECT n, date_trunc('day', now()) - interval '30 days' + (n / 3) * interval '1 minute', 'sync', 'k' || n, '{}',
                       CASE WHEN n IN (2, 7) THEN 'failed' WHEN n = 11 THEN 'received' WHEN n % 4 = 0 THEN 'ignored' ELSE 'processed' END,
                       CASE n WHEN 5 THEN 1 WHEN 9 THEN 2 WHEN 10 THEN 3 END
                FROM generate_series(1, 16) AS n
                """, database)
            try await Self.execute("""
                INSERT INTO webhook_events (id, received_at, type, dedupe_key, raw_body, status) OVERRIDING SYSTEM VALUE
                VALUES (17, now() - interval '1 day', 'sync', 'k17', '{}', 'processed')
                """, database)
            let deleted = try await database.withConnection { db in
                try await WebhookEventsTable.deleteHandled(olderThan: Self.week, batchSize: 2, on: db, logger: Self.logger)
            }
            #expect(try await Self.ints("SELECT id::int FROM webhook_events ORDER BY id", database) == [2, 5, 7, 9, 11, 17])
            #expect(deleted == 11)
        }
    }

    /// Old succeeded and cancelled jobs go, in batches; dead, queued and recent ones stay.
    @Test func finishedJobsGoInBatches() async throws {
        try await TestDatabase.withClient { database in
            try await Self.execute("""
                INSERT INTO jobs (id, kind, status, finished_at) OVERRIDING SYSTEM VALUE
                SELECT n, 'sync.run', CASE WHEN n = 3 THEN 'cancelled' WHEN n = 4 THEN 'dead' WHEN n = 5 THEN 'queued' ELSE 'succeeded' END,
                       CASE WHEN n = 5 THEN NULL WHEN n = 9 THEN now() - interval '1 day' ELSE now() - interval '30 days' END
                FROM generate_series(1, 9) AS n
                """, database)
            let deleted = try await database.withConnection { db in
                try await JobsTable.deleteFinished(olderThan: Self.week, batchSize: 2, on: db, logger: Self.logger)
            }
            #expect(deleted == 6)
            #expect(try await Self.ints("SELECT id::int FROM jobs ORDER BY id", database) == [4, 5, 9])
        }
    }

    /// Each state is counted up to the cap; a state without jobs is absent.
    @Test func eachStateIsCountedUpToTheCap() async throws {
        try await TestDatabase.withClient { database in
            try await Self.execute("""
                INSERT INTO jobs (kind, status, finished_at)
                SELECT 'sync.run', CASE WHEN n <= 3 THEN 'dead' ELSE 'succeeded' END, now() FROM generate_series(1, \(JobsTable.countCap + 10)) AS n
                """, database)
            let counts = try await database.withConnection { db in try await JobsTable.countsByStatus(on: db, logger: Self.logger) }
            #expect(counts == ["dead": 3, "succeeded": JobsTable.countCap])
        }
    }

    /// Every sync name of the asked models on this connection, each once, and no other connection's or model's.
    @Test func syncNamesAreEveryNameOfTheModels() async throws {
        try await TestDatabase.withClient { database in
            try await Self.execute("""
                INSERT INTO webhook_events (type, connection_id, integration_id, model, sync_name, dedupe_key, raw_body)
                SELECT v.type, v.connection_id, v.integration_id, v.model, v.sync_name, 'k' || n || '-' || v.i, '{}'
                FROM generate_series(1, 3) AS n, (VALUES
                    (1, 'sync', 'c1', 'xero', 'Contact', 'contacts'), (2, 'sync', 'c1', 'xero', 'Contact', 'contacts-v2'),
                    (3, 'sync', 'c1', 'xero', 'Invoice', 'invoices'), (4, 'sync', 'c1', 'xero', 'Account', 'accounts'),
                    (5, 'sync', 'c2', 'xero', 'Contact', 'other-connection'), (6, 'sync', 'c1', 'hubspot', 'Contact', 'other-integration'),
                    (7, 'auth', 'c1', 'xero', 'Contact', 'not-a-sync'), (8, 'sync', 'c1', 'xero', 'Contact', NULL)
                ) AS v(i, type, connection_id, integration_id, model, sync_name)
                """, database)
            let names = try await database.withConnection { db in
                try await WebhookEventsTable.syncNames(ConnectionIdentity(integrationId: "xero", connectionId: "c1"), models: ["Contact", "Invoice", "Missing"],
                                                       on: db, logger: Self.logger)
            }
            #expect(names == ["contacts", "contacts-v2", "invoices"])
        }
    }
}
