import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// A worker's commits are fenced by its lease, and an incremental checkpoint moves only from the version its run read.
@Suite(.timeLimit(.minutes(10))) struct FencingTests {
    static let logger = TestEnvironment.logger
    static let identity = ConnectionIdentity(integrationId: "xero", connectionId: "c1")

    @Test func onlyTheLeaseHolderPassesAndItHoldsTheJobUntilItCommits() async throws {
        try await TestDatabase.withClient { database in
            let id = try await database.withConnection { db in
                let id = try await JobsTable.enqueue(NewJob(kind: "sync.run", payload: [:], concurrencyKey: "k"), eventID: nil, on: db, logger: Self.logger)
                _ = try await JobsTable.claim(owner: "w1", lease: .seconds(30), on: db, logger: Self.logger)
                #expect(try await JobsTable.holdsLease(id: id, owner: "w2", on: db, logger: Self.logger) == false)
                #expect(try await JobsTable.holdsLease(id: id, owner: "w1", on: db, logger: Self.logger))
                return id
            }
            // While w1's transaction holds the job, a reaper's takeover waits for it; then the lease has lapsed.
            let (inside, enter) = AsyncStream.makeStream(of: Void.self)
            let (finished, finish) = AsyncStream.makeStream(of: Void.self)
            async let commit: Bool = database.withTransaction(logger: Self.logger) { db in
                let held = try await JobsTable.holdsLease(id: id, owner: "w1", on: db, logger: Self.logger)
                enter.yield()
                for await _ in finished { break }
                return held
            }
            for await _ in inside { break }
            async let takeover: Int = database.withConnection { db in
                try await db.query("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = \(id)", logger: Self.logger)
                return try await JobsTable.reapExpiredLeases(maxAttempts: 8, on: db, logger: Self.logger)
            }
            #expect(try await LockWaits.reach(1, in: database), "the takeover waits on the job w1's transaction holds")
            let statusDuringCommit = try await database.withConnection { db in
                try await db.query("SELECT status FROM jobs WHERE id = \(id)", logger: Self.logger).collect()[0].decode(String.self)
            }
            #expect(statusDuringCommit == "running", "the takeover waits for the fenced commit")
            finish.yield()
            #expect(try await commit)
            #expect(try await takeover == 1)
            let holds = try await database.withConnection { db in try await JobsTable.holdsLease(id: id, owner: "w1", on: db, logger: Self.logger) }
            #expect(!holds, "after the takeover the old worker's commits are refused")
        }
    }

    @Test func aCheckpointMovesOnlyFromTheVersionItsRunRead() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                let company = try await db.query("""
                    INSERT INTO companies (connection_id, integration_id, provider, name) VALUES ('c1', 'xero', 'xero', 'C') RETURNING id
                    """, logger: Self.logger).collect()[0].decode(UUID.self)
                try await SyncStateTable.markRunStarted(Self.identity, model: "Contact", companyId: company, on: db, logger: Self.logger)
                let read = try #require(try await SyncStateTable.checkpoint(Self.identity, model: "Contact", on: db, logger: Self.logger))
                #expect(read.version == 0 && read.cursor == nil)
                // A newer run advanced twice; the older run, still at version 0, must not move the cursor back.
                let first = try await SyncStateTable.advance(Self.identity, model: "Contact", cursor: "page-1", expectedVersion: 0, totals: .init(), on: db, logger: Self.logger)
                let second = try await SyncStateTable.advance(Self.identity, model: "Contact", cursor: "page-2", expectedVersion: 1, totals: .init(), on: db, logger: Self.logger)
                #expect(first == 1 && second == 2)
                let stale = try await SyncStateTable.advance(Self.identity, model: "Contact", cursor: "page-1", expectedVersion: 0, totals: .init(), on: db, logger: Self.logger)
                #expect(stale == nil)
                let now = try await SyncStateTable.checkpoint(Self.identity, model: "Contact", on: db, logger: Self.logger)
                #expect(now?.cursor == "page-2" && now?.version == 2)
            }
        }
    }
}
