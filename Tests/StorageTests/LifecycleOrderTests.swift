import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// A connection's lifecycle jobs run in the order their events arrived: a failed `connection.upsert` waiting for its
/// retry holds back the `connection.refresh_failed` that came after it, or the upsert's retry would force the company
/// back to `active` over Nango's latest word. Dead and cancelled jobs hold nothing back.
@Suite(.timeLimit(.minutes(10))) struct LifecycleOrderTests {
    static let logger = TestEnvironment.logger
    static let identity = ConnectionIdentity(integrationId: "xero", connectionId: "c1")

    static func claim(_ db: PostgresConnection) async throws -> Int64? {
        try await JobsTable.claim(owner: "w1", lease: .seconds(30), on: db, logger: logger)?.id
    }

    @Test func aLaterLifecycleJobWaitsForAnOlderOneAwaitingItsRetry() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                let upsert = try await JobsTable.enqueue(ConnectionJob(.upsert, Self.identity).newJob(), eventID: nil, on: db, logger: Self.logger)
                #expect(try await Self.claim(db) == upsert)
                let status = try await JobsTable.fail(
                    id: upsert, owner: "w1", error: "Nango answered 502", retryAt: Date().addingTimeInterval(3600), on: db, logger: Self.logger)
                #expect(status == .failed)
                let refreshFailed = try await JobsTable.enqueue(
                    ConnectionJob(.refreshFailed, Self.identity).newJob(), eventID: nil, on: db, logger: Self.logger)
                // Another connection's life is not held back.
                let other = try await JobsTable.enqueue(
                    ConnectionJob(.disconnected, ConnectionIdentity(integrationId: "xero", connectionId: "c2")).newJob(), eventID: nil,
                    on: db, logger: Self.logger)
                #expect(try await Self.claim(db) == other)
                try await JobsTable.succeed(id: other, owner: "w1", on: db, logger: Self.logger)
                #expect(try await Self.claim(db) == nil, "the refresh failure waits for the upsert that came before it")
                // The upsert's retry comes due: it runs first, then the refresh failure.
                try await db.query("UPDATE jobs SET run_at = now() WHERE id = \(upsert)", logger: Self.logger)
                #expect(try await Self.claim(db) == upsert)
                try await JobsTable.succeed(id: upsert, owner: "w1", on: db, logger: Self.logger)
                #expect(try await Self.claim(db) == refreshFailed)
            }
        }
    }

    /// The scheduled refresh merges while queued, yet it overtakes no older lifecycle job of its connection: it would
    /// set the company `active` before an older `refresh_failed` is applied.
    @Test func aScheduledRefreshWaitsForOlderLifecycleJobsButNotForOlderRefreshes() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                let upsert = try await JobsTable.enqueue(ConnectionJob(.upsert, Self.identity).newJob(), eventID: nil, on: db, logger: Self.logger)
                #expect(try await Self.claim(db) == upsert)
                _ = try await JobsTable.fail(
                    id: upsert, owner: "w1", error: "Nango answered 502", retryAt: Date().addingTimeInterval(3600), on: db, logger: Self.logger)
                let refresh = try await JobsTable.enqueue(ConnectionJob(.refresh, Self.identity).newJob(), eventID: nil, on: db, logger: Self.logger)
                #expect(try await Self.claim(db) == nil, "the refresh waits for the upsert awaiting its retry")
                try await db.query("UPDATE jobs SET status = 'dead' WHERE id = \(upsert)", logger: Self.logger)
                #expect(try await Self.claim(db) == refresh)
                // A refresh awaiting its retry does not hold back the next refresh of the connection (the same read).
                _ = try await JobsTable.fail(
                    id: refresh, owner: "w1", error: "timeout", retryAt: Date().addingTimeInterval(3600), on: db, logger: Self.logger)
                let next = try await JobsTable.enqueue(ConnectionJob(.refresh, Self.identity).newJob(), eventID: nil, on: db, logger: Self.logger)
                #expect(try await Self.claim(db) == next)
            }
        }
    }

    @Test func aDeadLifecycleJobHoldsNothingBack() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                let upsert = try await JobsTable.enqueue(ConnectionJob(.upsert, Self.identity).newJob(), eventID: nil, on: db, logger: Self.logger)
                let disconnected = try await JobsTable.enqueue(
                    ConnectionJob(.disconnected, Self.identity).newJob(), eventID: nil, on: db, logger: Self.logger)
                #expect(try await Self.claim(db) == upsert)
                #expect(try await JobsTable.fail(id: upsert, owner: "w1", error: "gone", retryAt: nil, on: db, logger: Self.logger) == .dead)
                #expect(try await Self.claim(db) == disconnected)
            }
        }
    }
}
