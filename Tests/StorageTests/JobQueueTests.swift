import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// One queued job per (kind, key), decided by Postgres: concurrent enqueues, webhook events sharing a job,
/// and a job given back while another of its key waits.
@Suite(.timeLimit(.minutes(10))) struct JobQueueTests {
    static let logger = TestEnvironment.logger

    static func syncJob(_ reason: String, extra: [String: JSONValue] = [:]) -> NewJob {
        NewJob(kind: "sync.run", payload: ["model": "Contact", "reason": .string(reason)].merging(extra) { $1 },
               concurrencyKey: "sync:xero:c1:Contact")
    }

    static func count(_ sql: String, _ database: Database) async throws -> Int {
        try await database.withConnection { db in
            try await db.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(sql)"), logger: logger)
                .collect()[0].decode(Int.self)
        }
    }

    static func event(_ n: Int, on db: PostgresConnection) async throws -> Int64 {
        let rows = try await db.query("""
            INSERT INTO webhook_events (type, dedupe_key, raw_body) VALUES ('sync', \("k\(n)"), '{}') RETURNING id
            """, logger: logger)
        return try await rows.collect()[0].decode(Int64.self)
    }

    @Test func waitingKeyMergeIsOneRowAKeyWithTheLaterFieldsWinning() {
        let other = NewJob(kind: "connection.upsert", payload: ["n": 1], concurrencyKey: "connection:xero:c1", mergesWhileQueued: false)
        let rows = WaitingKeyMerge.rows([
            (Self.syncJob("webhook", extra: ["nango_started_over_at": 5]), 10),
            (other, 11),
            (Self.syncJob("later"), 12),
            (other, 13),
        ])
        #expect(rows.count == 3)
        #expect(rows[0].eventID == 10)
        #expect(rows[0].job.payload == ["model": "Contact", "reason": "later", "nango_started_over_at": 5])
        #expect(rows[1].eventID == 11 && rows[2].eventID == 13)
        #expect(other.waitingKey == nil)
        #expect(Self.syncJob("x").waitingKey == "sync.run|sync:xero:c1:Contact")
    }

    /// Two transactions enqueue the same key at once: the second waits for the first and joins its job.
    /// (`NOT EXISTS` cannot see an uncommitted row: both would have queued one.)
    @Test func concurrentEnqueuesOfOneKeyQueueOneJob() async throws {
        try await TestDatabase.withClient { database in
            let (firstEntered, enter) = AsyncStream.makeStream(of: Void.self)
            let (released, release) = AsyncStream.makeStream(of: Void.self)
            async let first: Int64 = database.withTransaction(logger: Self.logger) { db in
                let id = try await JobsTable.enqueue(Self.syncJob("first"), eventID: nil, on: db, logger: Self.logger)
                enter.yield()
                for await _ in released { break }
                return id
            }
            for await _ in firstEntered { break }
            async let second: [Int64] = database.withTransaction(logger: Self.logger) { db in
                try await JobsTable.enqueueUnlessWaiting([Self.syncJob("second")], orRunning: false, on: db, logger: Self.logger)
            }
            async let third: Int64 = database.withTransaction(logger: Self.logger) { db in
                try await JobsTable.enqueue(Self.syncJob("third"), eventID: nil, on: db, logger: Self.logger)
            }
            // Both wait on the first's uncommitted job before it commits: the order the claim is about.
            #expect(try await LockWaits.reach(2, in: database), "the second and third enqueues wait on the first's transaction")
            release.yield()
            let (firstID, secondIDs, thirdID) = try await (first, second, third)
            #expect(secondIDs.isEmpty, "a job of the key is queued: nothing added")
            #expect(thirdID == firstID, "the third joined the queued job")
            #expect(try await Self.count("jobs WHERE status = 'queued'", database) == 1)
            #expect(try await Self.count("jobs WHERE payload->>'reason' = 'third'", database) == 1, "its payload merged in")
        }
    }

    /// Webhook events of one key share the queued job; each is linked to it, and all are processed when it succeeds.
    @Test func eventsOfOneKeyShareTheQueuedJobAndFinishWithIt() async throws {
        try await TestDatabase.withClient { database in
            let ids = try await database.withTransaction(logger: Self.logger) { db in
                let events = [try await Self.event(1, on: db), try await Self.event(2, on: db)]
                let batch = try await JobsTable.enqueueBatch(events.map { (Self.syncJob("webhook"), $0) }, on: db, logger: Self.logger)
                let later = try await Self.event(3, on: db)
                let next = try await JobsTable.enqueueBatch([(Self.syncJob("webhook"), later)], on: db, logger: Self.logger)
                return Array(batch.values) + Array(next.values)
            }
            #expect(ids.count == 3)
            #expect(Set(ids).count == 1)
            #expect(try await Self.count("jobs", database) == 1)
            #expect(try await Self.count("webhook_events WHERE job_id = \(ids[0])", database) == 3)
            let claimed = try await database.withConnection { db in
                try await JobsTable.claim(owner: "w1", lease: .seconds(30), on: db, logger: Self.logger)
            }
            #expect(claimed?.id == ids[0])
            try await database.withConnection { db in try await JobsTable.succeed(id: ids[0], owner: "w1", on: db, logger: Self.logger) }
            #expect(try await Self.count("webhook_events WHERE status = 'processed'", database) == 3)
        }
    }

    /// A webhook joining its key's queued job changes the payload alone: Postgres keeps that update heap-only (no
    /// entry in any of the jobs' indexes), which is most of a sync webhook's cost in the inbox's batch.
    @Test func joiningAQueuedJobIsAHeapOnlyUpdateOfItsPayload() async throws {
        try await TestDatabase.withClient { database in
            try await database.withTransaction(logger: Self.logger) { db in
                let first = try await Self.event(1, on: db)
                _ = try await JobsTable.enqueueBatch([(Self.syncJob("first"), first)], linkingEvents: false, on: db, logger: Self.logger)
            }
            // A later transaction, as a later batch is: its now() differs, so an `updated_at = now()` would show.
            let (updated, heapOnly, payload) = try await database.withTransaction(logger: Self.logger) { db in
                let second = try await Self.event(2, on: db)
                _ = try await JobsTable.enqueueBatch([(Self.syncJob("second", extra: ["since": "x"]), second)], linkingEvents: false, on: db, logger: Self.logger)
                // This transaction's own counts: exact, not the cumulative statistics other tests add to.
                let rows = try await db.query("""
                    SELECT pg_stat_get_xact_tuples_updated('jobs'::regclass)::int, pg_stat_get_xact_tuples_hot_updated('jobs'::regclass)::int,
                           (SELECT payload::text FROM jobs)
                    """, logger: Self.logger).collect()
                return try rows[0].decode((Int, Int, String).self)
            }
            #expect(updated == 1)
            #expect(heapOnly == 1, "the merge touched an indexed column")
            #expect(payload == #"{"model": "Contact", "since": "x", "reason": "second"}"#)
            let options = try await database.withConnection { db in
                try await db.query("SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'jobs'", logger: Self.logger).collect()[0].decode(String?.self)
            }
            #expect(options == "fillfactor=70")
        }
    }

    /// A running job given back while another of its key was queued meanwhile merges into that one.
    @Test func aReleasedJobMergesIntoTheOneQueuedMeanwhile() async throws {
        try await TestDatabase.withClient { database in
            let (running, waiting) = try await database.withConnection { db in
                let event = try await Self.event(1, on: db)
                let running = try await JobsTable.enqueue(Self.syncJob("first", extra: ["nango_started_over_at": 7]), eventID: event, on: db, logger: Self.logger)
                _ = try await JobsTable.claim(owner: "w1", lease: .seconds(30), on: db, logger: Self.logger)
                let waiting = try await JobsTable.enqueue(Self.syncJob("second"), eventID: try await Self.event(2, on: db), on: db, logger: Self.logger)
                try await JobsTable.release(id: running, owner: "w1", runAt: nil, note: "shutdown", on: db, logger: Self.logger)
                return (running, waiting)
            }
            #expect(running != waiting)
            #expect(try await Self.count("jobs WHERE status = 'queued'", database) == 1)
            #expect(try await Self.count("jobs WHERE id = \(running) AND status = 'cancelled' AND last_error = 'merged into waiting job \(waiting)'", database) == 1)
            #expect(try await Self.count("jobs WHERE id = \(waiting) AND payload->>'nango_started_over_at' = '7' AND payload->>'reason' = 'second'", database) == 1)
            #expect(try await Self.count("webhook_events WHERE job_id = \(waiting)", database) == 2)
            // Retrying a dead job of the key merges too; the queue keeps one.
            try await database.withConnection { db in
                _ = try await db.query("UPDATE jobs SET status = 'dead', finished_at = now() WHERE id = \(running)", logger: Self.logger)
                #expect(try await JobsTable.retry(id: running, on: db, logger: Self.logger))
            }
            #expect(try await Self.count("jobs WHERE status = 'queued'", database) == 1)
        }
    }

    /// Many jobs asked for at once (ops' drift check of every company) each get their key's waiting job or a new one,
    /// in input order: a queued one with the payload merged in, a failed one waiting for its retry as it is, and one
    /// new job for a key asked twice in the batch.
    @Test func manyJobsAtOnceEachGetTheirKeysWaitingJobOrOneNewJob() async throws {
        try await TestDatabase.withClient { database in
            func job(_ key: String, _ reason: String) -> NewJob {
                NewJob(kind: "drift.check", payload: ["reason": .string(reason)], concurrencyKey: key)
            }
            let (queued, failed) = try await database.withConnection { db in
                let queued = try await JobsTable.enqueue(job("drift:a", "earlier"), eventID: nil, on: db, logger: Self.logger)
                let failed = try await JobsTable.enqueue(job("drift:b", "earlier"), eventID: nil, on: db, logger: Self.logger)
                _ = try await db.query("UPDATE jobs SET status = 'failed', attempts = 1 WHERE id = \(failed)", logger: Self.logger)
                return (queued, failed)
            }
            let ids = try await database.withTransaction(logger: Self.logger) { db in
                try await JobsTable.enqueueOrWaiting(
                    [job("drift:a", "ops"), job("drift:b", "ops"), job("drift:c", "ops"), job("drift:c", "ops again")], on: db, logger: Self.logger)
            }
            try #require(ids.count == 4)
            #expect(ids[0] == queued)
            #expect(ids[1] == failed)
            #expect(ids[2] == ids[3])
            #expect(ids[2] != queued && ids[2] != failed)
            #expect(try await Self.count("jobs", database) == 3)
            #expect(try await Self.count("jobs WHERE id = \(queued) AND status = 'queued' AND payload->>'reason' = 'ops'", database) == 1)
            #expect(try await Self.count("jobs WHERE id = \(failed) AND status = 'failed' AND payload->>'reason' = 'earlier'", database) == 1)
            #expect(try await Self.count("jobs WHERE id = \(ids[2]) AND status = 'queued' AND payload->>'reason' = 'ops again'", database) == 1)
        }
    }
}
