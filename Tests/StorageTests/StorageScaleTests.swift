import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// The queue's and the inbox's statements at a realistic size: a million jobs and a million webhook events, nearly all
/// finished or handled, and none of the statements the service runs on every view, round or cleanup reads either table
/// from end to end. Each statement is the one the code sends (its SQL and binds), explained with the planner's view of
/// the data (ANALYZE) and of those binds.
@Suite(.timeLimit(.minutes(10))) struct StorageScaleTests {
    static let logger = TestEnvironment.logger
    static let rows = 1_000_000
    static let retention = Duration.seconds(7 * 24 * 3600)

    /// Jobs over about twelve days, one a second: 97% succeeded, then cancelled, dead, and a thousand each queued,
    /// failed and running. 5,000 keys of 200 jobs each (one queued, one running at most per key, as the unique
    /// indexes want). Ids given, so each job's id is its row number.
    static let jobs = """
        INSERT INTO jobs (id, kind, status, attempts, concurrency_key, waiting_key, lease_owner, lease_expires_at,
                          run_at, created_at, updated_at, started_at, finished_at)
        OVERRIDING SYSTEM VALUE
        SELECT g, 'sync.run', s.status, 1, 'sync:xero:c' || (g / 200) || ':Contact', 'sync.run|sync:xero:c' || (g / 200) || ':Contact',
               CASE WHEN s.status = 'running' THEN 'w1' END, CASE WHEN s.status = 'running' THEN now() + interval '5 minutes' END,
               t.at, t.at, t.at, t.at, CASE WHEN s.status IN ('succeeded', 'cancelled', 'dead') THEN t.at END
        FROM generate_series(1, \(rows)) AS g,
             LATERAL (SELECT CASE WHEN g % 100 < 97 THEN 'succeeded' WHEN g % 100 = 97 THEN 'cancelled' WHEN g % 100 = 98 THEN 'dead'
                                  WHEN g % 1000 = 99 THEN 'queued' WHEN g % 1000 = 199 THEN 'failed' WHEN g % 1000 = 299 THEN 'running'
                                  ELSE 'succeeded' END AS status) AS s,
             LATERAL (SELECT now() - (\(rows) - g) * interval '1 second' AS at) AS t
        """

    /// Webhooks over the same days: a fifth from one busy connection, the rest from a thousand others; one in twenty
    /// an auth webhook; three models, each with its sync name; a few failed, the last thousand not handled yet; one in
    /// ten linked to the job of its number. Bodies are two bytes: the plans do not depend on them.
    static let events = """
        INSERT INTO webhook_events (id, received_at, type, success, connection_id, integration_id, provider, model, sync_name,
                                    dedupe_key, raw_body, status, processed_at, job_id)
        OVERRIDING SYSTEM VALUE
        SELECT g, now() - (\(rows) - g) * interval '1 second', CASE WHEN g % 20 = 0 THEN 'auth' ELSE 'sync' END, true,
               CASE WHEN g % 5 = 0 THEN 'busy' ELSE 'c' || (g % 1000) END, 'xero', 'xero',
               CASE WHEN g % 20 <> 0 THEN (ARRAY['Contact', 'Invoice', 'Account'])[g % 3 + 1] END,
               CASE WHEN g % 20 <> 0 THEN (ARRAY['contacts', 'invoices', 'accounts'])[g % 3 + 1] END,
               'k' || g, '{}',
               CASE WHEN g > \(rows - 1000) THEN 'received' WHEN g % 500 = 1 THEN 'failed' ELSE 'processed' END,
               CASE WHEN g <= \(rows - 1000) THEN now() END,
               CASE WHEN g % 10 = 0 THEN g END
        FROM generate_series(1, \(rows)) AS g
        """

    /// The two tables' indexes that back no constraint (the primary keys and the inbox's unique key stay).
    static let droppableIndexes: PostgresQuery = """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
        WHERE i.indrelid IN ('jobs'::regclass, 'webhook_events'::regclass)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """

    @Test func noStatementOfTheQueueOrTheInboxScansAMillionRows() async throws {
        try await TestDatabase.withClient { database in
            let started = ContinuousClock.now
            try await database.withConnection { db in
                try await db.query("SET statement_timeout = 0", logger: Self.logger)
                try await db.query("SET synchronous_commit = off", logger: Self.logger)
                try await db.query("SET maintenance_work_mem = '256MB'", logger: Self.logger)
                // The migrated indexes are dropped for the load and built again from their own definitions after it:
                // the same indexes, built in a few seconds where a million inserts into each took most of a minute.
                var indexes: [(name: String, definition: String)] = []
                for try await index in try await db.query(Self.droppableIndexes, logger: Self.logger).decode((String, String).self) {
                    indexes.append(index)
                }
                for index in indexes { try await db.query(PostgresQuery(unsafeSQL: "DROP INDEX \(index.name)"), logger: Self.logger) }
                try await db.query(PostgresQuery(unsafeSQL: Self.jobs), logger: Self.logger)
                try await db.query(PostgresQuery(unsafeSQL: Self.events), logger: Self.logger)
                for index in indexes { try await db.query(PostgresQuery(unsafeSQL: index.definition), logger: Self.logger) }
                try await db.query("SELECT setval(pg_get_serial_sequence('jobs', 'id'), \(Self.rows))", logger: Self.logger)
                try await db.query("SELECT setval(pg_get_serial_sequence('webhook_events', 'id'), \(Self.rows))", logger: Self.logger)
                try await db.query("ANALYZE jobs, webhook_events", logger: Self.logger)
            }
            print("scale: \(Self.rows) jobs and events written and analyzed in \(ContinuousClock.now - started)")

            let busyKey = "sync:xero:c2500:Contact"   // 200 jobs: one queued, one failed, one running
            let job = NewJob(kind: "sync.run", payload: ["model": "Contact"], concurrencyKey: busyKey)
            let busy = ConnectionIdentity(integrationId: "xero", connectionId: "busy")
            // Each statement, and what its plan must show besides no sequential scan: the index, or the condition, that
            // reads only what it needs (before, the waiting-job lookup filtered every waiting job of every key).
            let statements: [(String, PostgresQuery, shows: String?)] = [
                ("JobsTable.retrying", JobsTable.retryingQuery([job, job]), "Index Cond: (concurrency_key = k.concurrency_key)"),
                ("JobsTable.enqueueUnlessWaiting", JobsTable.enqueueUnlessWaitingQuery([job], orRunning: false), "Index Cond: (concurrency_key = j.concurrency_key)"),
                ("JobsTable.enqueueUnlessWaiting(orRunning)", JobsTable.enqueueUnlessWaitingQuery([job], orRunning: true), "Index Cond: (concurrency_key = j.concurrency_key)"),
                ("JobsTable.countsByStatus", JobsTable.countsQuery(), " using jobs_status_id_idx on "),
                ("JobsTable.list", JobsTable.listQuery(status: nil, limit: 100), " using jobs_pkey on "),
                ("JobsTable.list(dead)", JobsTable.listQuery(status: "dead", limit: 100), " using jobs_status_id_idx on "),
                ("JobsTable.list(queued)", JobsTable.listQuery(status: "queued", limit: 100), " using jobs_status_id_idx on "),
                ("JobsTable.list(succeeded)", JobsTable.listQuery(status: "succeeded", limit: 100), nil),
                ("JobsTable.deleteFinished", JobsTable.deleteFinishedQuery(olderThan: Self.retention, limit: 1000), " using jobs_finished_idx on "),
                ("WebhookEventsTable.syncNames", WebhookEventsTable.syncNamesQuery(busy, models: ["Contact", "Invoice"]), " using webhook_events_sync_names_idx on "),
                ("WebhookEventsTable.deleteHandled", WebhookEventsTable.deleteHandledQuery(olderThan: Self.retention, after: nil, limit: 1000),
                 " using webhook_events_received_idx on "),
                ("WebhookEventsTable.deleteHandled(after)", WebhookEventsTable.deleteHandledQuery(
                    olderThan: Self.retention, after: .init(receivedAtMicroseconds: Int64(Date().addingTimeInterval(-10 * 86400).timeIntervalSince1970 * 1_000_000), id: 130_000),
                    limit: 1000), " using webhook_events_received_idx on "),
            ]
            for (name, statement, shows) in statements {
                let plan = try await Self.explain(statement, database)
                print("scale: \(name)\n\(plan)")
                for table in ["jobs", "webhook_events"] {
                    #expect(!plan.contains("Seq Scan on \(table)"), "\(name) reads all of \(table):\n\(plan)")
                }
                if let shows { #expect(plan.contains(shows), "\(name) shows no \"\(shows)\":\n\(plan)") }
            }
        }
    }

    /// The plan Postgres would run for the statement with its binds (EXPLAIN plans with the bound values, as the
    /// unnamed statement the code sends is planned).
    static func explain(_ statement: PostgresQuery, _ database: Database, verbose: Bool = false) async throws -> String {
        try await database.withConnection { db in
            var lines: [String] = []
            let explain = verbose ? "EXPLAIN (VERBOSE) " : "EXPLAIN "
            let rows = try await db.query(PostgresQuery(unsafeSQL: explain + statement.sql, binds: statement.binds), logger: logger)
            for try await line in rows.decode(String.self) { lines.append(line) }
            return lines.joined(separator: "\n")
        }
    }
}
