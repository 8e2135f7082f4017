import Foundation
import Logging
import PostgresNIO
import Storage
import Testing
import TestSupport

/// The inbox's reservation: which keys of a batch are new (and the ids their events take), decided against the
/// redelivery window and the batch itself, before any job or event is written.
@Suite(.timeLimit(.minutes(10))) struct InboxReserveTests {
    static let logger = TestEnvironment.logger

    static func event(_ key: String, status: WebhookEventStatus = .received) -> (event: InboxEvent, status: WebhookEventStatus) {
        (InboxEvent(type: "sync", dedupeKey: key, rawBody: #"{"key": "\#(key)"}"#), status)
    }

    @Test func aBatchKeepsTheFirstOfEachNewKeyAndStepsOldSameBytesAside() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                // "recent" arrived a minute ago (a redelivery now); "old" two hours ago (new bytes now).
                let stored = try await WebhookEventsTable.insertBatch([Self.event("recent"), Self.event("old")], on: db, logger: Self.logger)
                #expect(stored.count == 2)
                try await db.query("UPDATE webhook_events SET received_at = now() - interval '1 minute' WHERE dedupe_key = 'recent'", logger: Self.logger)
                try await db.query("UPDATE webhook_events SET received_at = now() - interval '2 hours' WHERE dedupe_key = 'old'", logger: Self.logger)

                let ids = try await WebhookEventsTable.reserve(keys: ["a", "recent", "a", "old", "b"], on: db, logger: Self.logger)
                #expect(ids.count == 5)
                #expect(ids[0] != nil && ids[3] != nil && ids[4] != nil, "new keys, first of each, and bytes older than the window: \(ids)")
                #expect(ids[1] == nil, "within the window: a repeat")
                #expect(ids[2] == nil, "the second of a key in one batch: a repeat")
                #expect(Set(ids.compactMap { $0 }).count == 3)
                #expect(ids[0]! < ids[3]! && ids[3]! < ids[4]!, "ids follow the batch's order")
                let aside = try await db.query("SELECT count(*)::int FROM webhook_events WHERE dedupe_key LIKE 'old:%'", logger: Self.logger).collect()
                #expect(try aside[0].decode(Int.self) == 1, "the old event stepped aside from the unique key")

                // The reserved events go in under their ids; a key taken meanwhile (here, by hand) is left out.
                let events = [
                    WebhookEventsTable.NewEvent(id: ids[0]!, event: Self.event("a").event, status: .received, jobID: nil),
                    WebhookEventsTable.NewEvent(id: ids[4]!, event: Self.event("b").event, status: .ignored, jobID: nil),
                ]
                try await db.query("INSERT INTO webhook_events (type, dedupe_key, raw_body) VALUES ('sync', 'b', '{}')", logger: Self.logger)
                let inserted = try await WebhookEventsTable.insert(events, on: db, logger: Self.logger)
                #expect(inserted == [ids[0]!])
            }
        }
    }
}
