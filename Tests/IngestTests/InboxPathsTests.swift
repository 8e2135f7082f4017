import Foundation
import Logging
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Ingest

/// The inbox's two ways of storing a batch, against real Postgres: the one statement for fresh events, and the
/// transaction it hands over to when a key repeats, is held, or is taken by a concurrent delivery mid-statement.
@Suite(.timeLimit(.minutes(10))) struct InboxPathsTests {
    static let logger = TestEnvironment.logger

    static func classification(connection: String, added: Int) throws -> WebhookClassification {
        let body = #"{"connectionId":"\#(connection)","from":"nango","model":"Customer","modifiedAfter":"2026-05-01T10:00:00.000Z","providerConfigKey":"quickbooks","queryTimeStamp":"2026-05-01T10:00:00.000Z","responseResults":{"added":\#(added),"deleted":0,"updated":1},"success":true,"syncName":"customers","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}"#
        return try WebhookClassification.classify(body: Array(body.utf8))
    }

    static func count(_ sql: String, _ database: Database) async throws -> Int {
        try await database.withConnection { db in
            try await db.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(sql)"), logger: logger).collect()[0].decode(Int.self)
        }
    }

    @Test func aKeyRepeatedInItsBatchIsStoredOnceAndAnsweredAsTheRepeat() async throws {
        try await TestDatabase.withClient { database in
            let x = try Self.classification(connection: "c-1", added: 1)
            let y = try Self.classification(connection: "c-2", added: 2)
            let outcomes = try await Inbox.store([x, y, x], database: database, logger: Self.logger)
            #expect(outcomes.count == 3)
            guard outcomes.count == 3 else { return }
            guard case .stored(_, let jobX) = outcomes[0], case .stored(_, let jobY) = outcomes[1] else {
                Issue.record("the first two are stored: \(outcomes)")
                return
            }
            #expect(outcomes[2] == .duplicate)
            #expect(jobX != nil && jobY != nil && jobX != jobY)
            #expect(try await Self.count("webhook_events", database) == 2)
            #expect(try await Self.count("jobs", database) == 2)
        }
    }

    @Test func aKeyTakenByAConcurrentDeliveryMidStatementReadsAsTheRepeat() async throws {
        try await TestDatabase.withClient { database in
            let x = try Self.classification(connection: "c-1", added: 1)
            let y = try Self.classification(connection: "c-2", added: 2)
            let (inserted, insertedSignal) = AsyncStream.makeStream(of: Void.self)
            let (release, releaseSignal) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Another delivery of X's bytes holds its key, not yet committed, when the batch's statement runs: the
                // statement does not see it, inserts, and waits on the key's unique entry until the other commits.
                group.addTask {
                    try await database.withTransaction(logger: Self.logger) { db in
                        let ids = try await WebhookEventsTable.insertBatch([(x.event, .received)], on: db, logger: Self.logger)
                        #expect(ids.count == 1)
                        insertedSignal.yield()
                        for await _ in release { break }
                    }
                }
                for await _ in inserted { break }
                group.addTask {
                    let outcomes = try await Inbox.store([x, y], database: database, logger: Self.logger)
                    #expect(outcomes.count == 2)
                    guard outcomes.count == 2 else { return }
                    #expect(outcomes[0] == .duplicate, "the key the other delivery committed")
                    guard case .stored(_, let job) = outcomes[1] else {
                        Issue.record("Y is stored: \(outcomes)")
                        return
                    }
                    #expect(job != nil)
                }
                // The batch's statement waits on the held key; then the other delivery commits.
                #expect(try await LockWaits.reach(1, queryLike: "%WITH input AS%", in: database), "the one-statement path ran and waited on the held key")
                releaseSignal.yield()
                try await group.waitForAll()
            }
            #expect(try await Self.count("webhook_events", database) == 2)
            // Only Y's job: the statement that failed on X's key wrote nothing, X's job included.
            #expect(try await Self.count("jobs", database) == 1)
            #expect(try await Self.count("jobs j JOIN webhook_events e ON e.id = j.event_id AND e.job_id = j.id WHERE e.connection_id = 'c-2'", database) == 1)
        }
    }
}
