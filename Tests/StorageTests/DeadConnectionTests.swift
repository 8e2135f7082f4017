import Foundation
import MarketplaceCore
import PostgresNIO
import Storage
import Testing
import TestSupport

/// A transaction whose connection the server dropped (a crash, a restart, a terminated backend) ends with an error.
/// postgres-nio's own `withTransaction` sent `ROLLBACK` on the dead connection, a call that never returned; each case
/// is bounded by a timeout so a regression fails instead of hanging the run.
@Suite struct DeadConnectionTests {
    /// How a transaction whose connection the server drops inside `body` ends: "committed", or the error's type.
    static func ending(_ body: @escaping @Sendable () async throws -> Void) async throws -> String {
        try await TestDatabase.withClient(migrated: false) { database in
            try await withTimeout(.seconds(30)) {
                do {
                    try await database.withTransaction(logger: TestEnvironment.logger) { connection in
                        try await DeadConnection.kill(connection, database: database)
                        try await body()
                    }
                    return "committed"
                } catch {
                    return "\(type(of: error))"
                }
            }
        }
    }

    @Test func aTransactionWhoseConnectionDiedEndsWithTheBodysError() async throws {
        // The body's own failure, as a statement failing with the close would be.
        #expect(try await Self.ending { throw CancellationError() } == "CancellationError")
    }

    @Test func aCommitOnADeadConnectionFailsAsClosed() async throws {
        #expect(try await Self.ending {} == "ConnectionClosedError")
    }

    @Test func aWatchSeesAConnectionClosedUnderItOnlyAfterTheGrace() async throws {
        try await TestDatabase.withClient(migrated: false) { database in
            let watch = ConnectionWatch()
            try await ConnectionWatch.$current.withValue(watch) {
                try await database.withConnection { connection in
                    let start = ContinuousClock.now
                    #expect(!watch.closedUnderWork(for: .seconds(5), now: start), "open")
                    try await DeadConnection.kill(connection, database: database)
                    #expect(!watch.closedUnderWork(for: .seconds(5), now: start + .seconds(1)), "closed, first seen now")
                    #expect(!watch.closedUnderWork(for: .seconds(5), now: start + .seconds(5)), "closed 4 s")
                    #expect(watch.closedUnderWork(for: .seconds(5), now: start + .seconds(6)), "closed 5 s")
                }
            }
            #expect(!watch.closedUnderWork(for: .seconds(5), now: .now + .seconds(60)), "released")
        }
    }

    /// A call stuck on a connection the server dropped may never return; the pool has already let that connection go,
    /// and the in-use figure (`db_pool_connections_in_use`, `/health/detailed`) lets it go too instead of creeping up.
    @Test func aConnectionClosedUnderAStuckCallIsNoLongerCountedInUse() async throws {
        try await TestDatabase.withClient(migrated: false) { database in
            #expect(database.poolFigures.inUse == 0)
            let (killed, signalKilled) = AsyncStream.makeStream(of: Void.self)
            let (finish, signalFinish) = AsyncStream.makeStream(of: Void.self)
            async let stuck: Void = database.withConnection { connection in
                defer { signalKilled.finish() }   // a failed kill ends the test's wait too, and `stuck` throws
                #expect(database.poolFigures.inUse == 1, "leased and open")
                try await DeadConnection.kill(connection, database: database)
                signalKilled.yield()
                // Stands for the statement that never returns: held until the test has read the figure.
                for await _ in finish { break }
            }
            for await _ in killed { break }
            #expect(database.poolFigures.inUse == 0, "its connection is closed: the pool no longer counts it")
            try await database.withConnection { _ in
                #expect(database.poolFigures.inUse == 1, "a new lease is counted beside the stuck call")
            }
            signalFinish.finish()
            try await stuck
            #expect(database.poolFigures.inUse == 0)
        }
    }
}
