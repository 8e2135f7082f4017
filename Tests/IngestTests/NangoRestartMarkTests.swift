import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Ingest

/// "Nango started over" is marked on the model's sync state in the transaction that stores its webhook, and only a
/// complete full re-read that started after it clears it. Before, the decision compared the restart with the model's
/// last successful incremental run: the run in flight when the webhook came (or a reconciliation, or an API sync)
/// ended after the restart and hid it, and a crash between the success and the resync request lost it.
@Suite(.timeLimit(.minutes(10))) struct NangoRestartMarkTests {
    static let logger = TestEnvironment.logger
    static let identity = ConnectionIdentity(integrationId: "xero", connectionId: "so-1")

    static func webhook(checkpoints: String) throws -> WebhookClassification {
        try WebhookClassification.classify(body: Array(#"""
            {"checkpoints":\#(checkpoints),"connectionId":"so-1","from":"nango","model":"Contact","modifiedAfter":"2026-05-01T09:00:00Z","providerConfigKey":"xero","queryTimeStamp":"2026-05-01T09:00:00Z","responseResults":{"added":1,"deleted":0,"updated":0},"success":true,"syncName":"contacts","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}
            """#.utf8))
    }

    static func pending(_ database: Database) async throws -> Bool {
        try await database.withConnection { db in try await SyncStateTable.nangoRestartPending(identity, model: "Contact", on: db, logger: logger) }
    }

    @Test func aRestartStaysMarkedThroughLaterRunsUntilAFullReReadStartedAfterItCompletes() async throws {
        try await TestDatabase.withClient { database in
            let (before, after) = try await database.withConnection { db in
                let company = try await db.query("""
                    INSERT INTO companies (connection_id, integration_id, provider, name) VALUES ('so-1', 'xero', 'xero', 'C') RETURNING id
                    """, logger: Self.logger).collect()[0].decode(UUID.self)
                try await SyncStateTable.markRunStarted(Self.identity, model: "Contact", companyId: company, on: db, logger: Self.logger)
                _ = try await SyncStateTable.advance(Self.identity, model: "Contact", cursor: "c5", expectedVersion: 0, totals: .init(), on: db, logger: Self.logger)
                let before = try await db.query("SELECT now() - interval '1 second'", logger: Self.logger).collect()[0].decode(Date.self)
                return (before, before.addingTimeInterval(3600))
            }
            // A webhook whose checkpoints continue marks nothing; one whose `from` is null marks the model.
            let continuing = try Self.webhook(checkpoints: #"{"from":{"updated_after":"2026-04-30T09:00:00Z"},"to":{"updated_after":"2026-05-01T09:00:00Z"}}"#)
            #expect(!continuing.nangoStartedOver)
            _ = try await Inbox.store([continuing], database: database, logger: Self.logger)
            #expect(try await Self.pending(database) == false)
            let restart = try Self.webhook(checkpoints: #"{"from":null,"to":{"updated_after":"2026-05-01T09:00:00Z"}}"#)
            #expect(restart.nangoStartedOver)
            let outcomes = try await Inbox.store([restart], database: database, logger: Self.logger)
            guard case .stored(_, let job)? = outcomes.first else {
                Issue.record("the restart webhook is stored: \(outcomes)")
                return
            }
            #expect(job != nil)
            #expect(try await Self.pending(database), "marked with the webhook's own commit")
            try await database.withConnection { db in
                // The run in flight when the webhook came ends after it: the mark stays.
                try await SyncStateTable.markSucceeded(Self.identity, model: "Contact", on: db, logger: Self.logger)
                // A full re-read that started before the restart does not cover it.
                try await SyncStateTable.clearNangoRestart(Self.identity, model: "Contact", readStartedAt: before, on: db, logger: Self.logger)
            }
            #expect(try await Self.pending(database))
            try await database.withConnection { db in
                try await SyncStateTable.clearNangoRestart(Self.identity, model: "Contact", readStartedAt: after, on: db, logger: Self.logger)
            }
            #expect(try await Self.pending(database) == false, "a full re-read that started after the restart covers it")
        }
    }

    /// A model not read yet has nothing Nango could have dropped under it: its first read starts from nothing.
    @Test func aRestartOfAModelNotReadYetMarksNothing() async throws {
        try await TestDatabase.withClient { database in
            _ = try await Inbox.store([try Self.webhook(checkpoints: #"{"from":null,"to":null}"#)], database: database, logger: Self.logger)
            #expect(try await Self.pending(database) == false)
        }
    }
}
