import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// The inbox's one-statement path: fresh events, their jobs merged into their keys' waiting ones, each event naming
/// its job; any key the inbox already holds and it writes nothing.
@Suite(.timeLimit(.minutes(10))) struct InboxFreshTests {
    static let logger = TestEnvironment.logger

    static func sync(_ connection: String, _ reason: String, extra: [String: JSONValue] = [:]) -> NewJob {
        NewJob(kind: "sync.run", payload: ["model": "Contact", "reason": .string(reason)].merging(extra) { $1 },
               concurrencyKey: "sync:xero:\(connection):Contact")
    }

    static func event(_ key: String, type: String = "sync", connection: String? = nil) -> InboxEvent {
        var event = InboxEvent(type: type, dedupeKey: key, rawBody: #"{"key":"\#(key)"}"#)
        event.connectionId = connection
        event.integrationId = connection.map { _ in "xero" }
        return event
    }

    struct Row: Equatable {
        let status: String
        let jobID: Int64?
        let connection: String?
    }

    static func events(_ database: Database) async throws -> [String: Row] {
        try await database.withConnection { db in
            var rows: [String: Row] = [:]
            for try await (key, status, job, connection) in try await db.query(
                "SELECT dedupe_key, status, job_id, connection_id FROM webhook_events", logger: logger
            ).decode((String, String, Int64?, String?).self) {
                rows[key] = Row(status: status, jobID: job, connection: connection)
            }
            return rows
        }
    }

    static func job(_ id: Int64, _ database: Database) async throws -> (payload: String, eventID: Int64?, status: String) {
        try await database.withConnection { db in
            try await db.query("SELECT payload::text, event_id, status FROM jobs WHERE id = \(id)", logger: logger)
                .collect()[0].decode((String, Int64?, String).self)
        }
    }

    @Test func freshEventsAreStoredWithTheirJobsInOneStatement() async throws {
        try await TestDatabase.withClient { database in
            // A job of c2's key already waits, queued by an earlier event.
            let waiting = try await database.withTransaction(logger: Self.logger) { db in
                let earlier = try await WebhookEventsTable.insertBatch([(Self.event("earlier", connection: "c2"), .received)], on: db, logger: Self.logger)
                return try await JobsTable.enqueueBatch([(Self.sync("c2", "earlier"), earlier["earlier"]!)], on: db, logger: Self.logger)[0]
            }
            let keyless = NewJob(kind: "connection.upsert", payload: ["n": 1], concurrencyKey: "connection:xero:c1", mergesWhileQueued: false)
            let stored = try #require(try await database.withConnection { db in
                try await WebhookEventsTable.storeFresh([
                    .init(event: Self.event("e1", connection: "c1"), job: Self.sync("c1", "first")),
                    .init(event: Self.event("e2", type: "auth", connection: "c1"), job: keyless),
                    .init(event: Self.event("e3", type: "mystery"), job: nil),
                    .init(event: Self.event("e4", connection: "c1"), job: Self.sync("c1", "second", extra: ["since": "x"])),
                    .init(event: Self.event("e5", connection: "c2"), job: Self.sync("c2", "later")),
                ], on: db, logger: Self.logger)
            })
            #expect(stored.count == 5)
            guard stored.count == 5 else { return }
            let (e1, e2, e3, e4, e5) = (stored[0], stored[1], stored[2], stored[3], stored[4])
            #expect(e1.eventID < e2.eventID && e2.eventID < e3.eventID && e3.eventID < e4.eventID && e4.eventID < e5.eventID)
            #expect(e1.jobID != nil && e1.jobID == e4.jobID, "two events of one key share its job")
            #expect(e2.jobID != nil && e2.jobID != e1.jobID)
            #expect(e3.jobID == nil)
            #expect(e5.jobID == waiting, "c2's event joined the job already waiting")

            let rows = try await Self.events(database)
            #expect(rows.count == 6)
            #expect(rows["e1"] == Row(status: "received", jobID: e1.jobID, connection: "c1"))
            #expect(rows["e2"] == Row(status: "received", jobID: e2.jobID, connection: "c1"))
            #expect(rows["e3"] == Row(status: "ignored", jobID: nil, connection: nil))
            #expect(rows["e4"] == Row(status: "received", jobID: e1.jobID, connection: "c1"))
            #expect(rows["e5"] == Row(status: "received", jobID: waiting, connection: "c2"))

            let c1 = try await Self.job(try #require(e1.jobID), database)
            #expect(c1.payload == #"{"model": "Contact", "since": "x", "reason": "second"}"#)
            #expect(c1.eventID == e1.eventID, "a merged job names the first of its events")
            #expect(c1.status == "queued")
            let upsert = try await Self.job(try #require(e2.jobID), database)
            #expect(upsert.payload == #"{"n": 1}"#)
            #expect(upsert.eventID == e2.eventID)
            let joined = try await Self.job(waiting, database)
            #expect(joined.payload == #"{"model": "Contact", "reason": "later"}"#)
            #expect(try await JobQueueTests.count("jobs", database) == 3)
        }
    }

    @Test func aKeyTheInboxHoldsMakesItWriteNothing() async throws {
        try await TestDatabase.withClient { database in
            let first = try await database.withConnection { db in
                try await WebhookEventsTable.storeFresh([.init(event: Self.event("held", connection: "c1"), job: Self.sync("c1", "first"))], on: db, logger: Self.logger)
            }
            #expect(first?.count == 1)
            let again = try await database.withConnection { db in
                try await WebhookEventsTable.storeFresh([
                    .init(event: Self.event("new", connection: "c3"), job: Self.sync("c3", "new")),
                    .init(event: Self.event("held", connection: "c1"), job: Self.sync("c1", "again")),
                ], on: db, logger: Self.logger)
            }
            #expect(again == nil)
            #expect(try await JobQueueTests.count("webhook_events", database) == 1)
            #expect(try await JobQueueTests.count("jobs", database) == 1)
            let job = try await Self.job(try #require(first?[0].jobID), database)
            #expect(job.payload == #"{"model": "Contact", "reason": "first"}"#, "the refused batch merged nothing")
        }
    }
}
