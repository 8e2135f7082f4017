import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// `release` and an admin `retry` decide "merge into the key's queued job, or queue this one" on a snapshot. A webhook
/// that queues a job of the same key while that statement runs must end merged, not in a unique violation that
/// leaves the job running until its lease lapses. The webhook's job is held uncommitted until the statement waits on
/// it, then committed: the interleaving is driven, not raced.
@Suite(.timeLimit(.minutes(10))) struct WaitingKeyRaceTests {
    static let logger = TestEnvironment.logger
    static let job = NewJob(kind: "sync.run", payload: ["model": "Contact"], concurrencyKey: "sync:xero:c1:Contact")

    static func value<T: PostgresDecodable & Sendable>(_ sql: String, _ type: T.Type, _ database: Database) async throws -> T {
        try await database.withConnection { db in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()[0].decode(T.self) }
    }

    /// Runs `decide` while another transaction holds a queued job of the same key uncommitted; commits that one once
    /// `decide`'s statement waits on its unique entry. Returns the other job's id.
    static func whileAWebhookQueuesTheKey(_ database: Database, marker: String, _ decide: @escaping @Sendable () async throws -> Void) async throws -> Int64 {
        let (queued, queuedSignal) = AsyncStream.makeStream(of: Int64.self)
        let (commit, commitSignal) = AsyncStream.makeStream(of: Void.self)
        return try await withThrowingTaskGroup(of: Int64?.self) { group in
            group.addTask {
                try await database.withTransaction(logger: logger) { db in
                    let id = try await JobsTable.enqueueOrWaiting(Self.job, on: db, logger: logger)
                    queuedSignal.yield(id)
                    for await _ in commit { break }
                    return id
                }
            }
            var other: Int64 = 0
            for await id in queued {
                other = id
                break
            }
            group.addTask {
                try await decide()
                return nil
            }
            #expect(try await LockWaits.reach(1, queryLike: "%\(marker)%", in: database),
                    "the statement read its snapshot and waits on the other job's key")
            commitSignal.yield()
            try await group.waitForAll()
            return other
        }
    }

    @Test func aReleaseMeetingAJobQueuedMeanwhileMergesIntoIt() async throws {
        try await TestDatabase.withClient { database in
            let id = try await database.withConnection { db in
                let id = try await JobsTable.enqueue(Self.job, eventID: nil, on: db, logger: Self.logger)
                #expect(try await JobsTable.claim(owner: "w1", lease: .seconds(30), on: db, logger: Self.logger)?.id == id)
                return id
            }
            let other = try await Self.whileAWebhookQueuesTheKey(database, marker: "WITH me AS") {
                try await database.withConnection { db in
                    try await JobsTable.release(id: id, owner: "w1", runAt: nil, note: "shutdown", on: db, logger: Self.logger)
                }
            }
            #expect(other != id)
            #expect(try await Self.value("SELECT status FROM jobs WHERE id = \(id)", String.self, database) == "cancelled")
            #expect(try await Self.value("SELECT last_error FROM jobs WHERE id = \(id)", String.self, database) == "merged into waiting job \(other)")
            #expect(try await Self.value("SELECT attempts FROM jobs WHERE id = \(id)", Int.self, database) == 0, "the release gave its attempt back")
            #expect(try await Self.value("SELECT status FROM jobs WHERE id = \(other)", String.self, database) == "queued")
        }
    }

    @Test func anAdminRetryMeetingAJobQueuedMeanwhileMergesIntoIt() async throws {
        try await TestDatabase.withClient { database in
            let id = try await database.withConnection { db in
                let id = try await JobsTable.enqueue(Self.job, eventID: nil, on: db, logger: Self.logger)
                _ = try await JobsTable.claim(owner: "w1", lease: .seconds(30), on: db, logger: Self.logger)
                #expect(try await JobsTable.fail(id: id, owner: "w1", error: "boom", retryAt: nil, on: db, logger: Self.logger) == .dead)
                return id
            }
            let other = try await Self.whileAWebhookQueuesTheKey(database, marker: "WITH me AS") {
                let retried = try await database.withConnection { db in try await JobsTable.retry(id: id, on: db, logger: Self.logger) }
                #expect(retried)
            }
            #expect(try await Self.value("SELECT status FROM jobs WHERE id = \(id)", String.self, database) == "cancelled")
            #expect(try await Self.value("SELECT last_error FROM jobs WHERE id = \(id)", String.self, database) == "merged into waiting job \(other); before: boom")
            #expect(try await Self.value("SELECT status FROM jobs WHERE id = \(other)", String.self, database) == "queued")
        }
    }
}
