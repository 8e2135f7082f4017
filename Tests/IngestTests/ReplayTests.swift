import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Ingest

/// Ops replaying a range of stored webhooks: each event's stored bytes classified again and their consequences
/// written as one batch, each event answered with its own outcome, oldest first.
@Suite(.timeLimit(.minutes(10))) struct ReplayTests {
    static let logger = TestEnvironment.logger

    static func sync(_ connection: String, modifiedAfter: String) throws -> WebhookClassification {
        try WebhookClassification.classify(body: Array(#"""
            {"connectionId":"\#(connection)","from":"nango","model":"Contact","modifiedAfter":"\#(modifiedAfter)","providerConfigKey":"xero","queryTimeStamp":"\#(modifiedAfter)","responseResults":{"added":1,"deleted":0,"updated":0},"success":true,"syncName":"contacts","syncType":"INCREMENTAL","type":"sync"}
            """#.utf8))
    }

    @Test func aRangeReplayGivesEachEventItsOutcomeAndRequeuesOnlyWhatHasAJob() async throws {
        try await TestDatabase.withClient { database in
            let asyncAction = try WebhookClassification.classify(body: Array(#"""
                {"connectionId":"r-1","from":"nango","id":"a1","providerConfigKey":"xero","type":"async_action","payload":{}}
                """#.utf8))
            #expect(asyncAction.job == nil)
            // One at a time, so their received order is the list's.
            var stored: [(event: Int64, job: Int64?)] = []
            for classification in [try Self.sync("r-1", modifiedAfter: "2026-05-01T09:00:00Z"), asyncAction,
                                   try Self.sync("r-1", modifiedAfter: "2026-05-01T10:00:00Z"), try Self.sync("r-2", modifiedAfter: "2026-05-01T09:00:00Z")] {
                let outcome = try await Inbox.store([classification], database: database, logger: Self.logger)
                guard case .stored(let event, let job)? = outcome.first else {
                    Issue.record("stored: \(outcome)")
                    return
                }
                stored.append((event, job))
            }
            try #require(stored.count == 4)
            let syncJob = try #require(stored[0].job)
            #expect(stored[2].job == syncJob, "the second sync webhook of the key joined the queued job")
            // Handled since; the last one's stored bytes no longer classify.
            _ = try await database.query("UPDATE webhook_events SET status = 'processed', processed_at = now()", logger: Self.logger)
            _ = try await database.query("UPDATE webhook_events SET raw_body = 'not json' WHERE id = \(stored[3].event)", logger: Self.logger)

            let replayed = try await Inbox.replay(WebhookEventFilter(limit: 100), id: nil, database: database, logger: Self.logger)
            #expect(replayed == [
                Inbox.Replayed(eventId: stored[0].event, jobId: syncJob, outcome: "enqueued"),
                Inbox.Replayed(eventId: stored[1].event, jobId: nil, outcome: "no_job"),
                Inbox.Replayed(eventId: stored[2].event, jobId: syncJob, outcome: "enqueued"),
                Inbox.Replayed(eventId: stored[3].event, jobId: nil, outcome: "invalid"),
            ])
            let statuses = try await database.query("SELECT id, status FROM webhook_events ORDER BY id", logger: Self.logger)
                .map { try $0.decode((Int64, String).self) }
            #expect(statuses.map(\.1) == ["received", "processed", "received", "processed"])
            #expect(try await database.query("SELECT count(*)::int FROM jobs", logger: Self.logger).first?.decode(Int.self) == 2, "r-1's queued job and r-2's, nothing new")
        }
    }
}
