import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
import TestSupport

@testable import Storage

/// Every `LISTEN` of a process on one connection (``NotificationHub``), against real Postgres: the listening
/// connection is seen in `pg_stat_activity` by its last statement, a `LISTEN`.
@Suite(.timeLimit(.minutes(10))) struct NotificationHubTests {
    static let logger = TestEnvironment.logger

    /// What the listeners heard, in order, as "listener what".
    final class Heard: Sendable {
        private let lines = Mutex<[String]>([])
        func add(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
        func count(_ line: String) -> Int { all.count(where: { $0 == line }) }
    }

    static let listeningBackends = """
        SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' ORDER BY pid
        """

    static func pids(_ database: Database) async throws -> [Int32] {
        try await database.query(PostgresQuery(unsafeSQL: listeningBackends), logger: logger).map { try $0.decode(Int32.self) }
    }

    /// Three listeners on two channels: one connection listens for all; each listener hears its own channel only, both
    /// of one channel hear it; when the server ends that connection, the hub listens again on another, tells every
    /// listener so (what was notified meanwhile is theirs to find), and they hear what comes after.
    @Test func everyChannelSharesOneConnectionAndListensAgainAfterItIsLost() async throws {
        try await TestDatabase.withClient(migrated: false) { database in
            let heard = Heard()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (name, channel) in [("a1", "alpha"), ("a2", "alpha"), ("b", "beta")] {
                    group.addTask {
                        await database.listen(channel, listening: { heard.add("\(name) listening") }) { heard.add("\(name) \($0)") }
                    }
                }
                try await eventually("each listener told that listening runs") {
                    ["a1", "a2", "b"].allSatisfy { heard.count("\($0) listening") == 1 }
                }
                let first = try await Self.pids(database)
                #expect(first.count == 1, "one connection listens for every channel: \(first)")

                try await database.query("SELECT pg_notify('alpha', 'x'), pg_notify('beta', 'y')", logger: Self.logger)
                try await eventually("each notification heard") { ["a1 x", "a2 x", "b y"].allSatisfy { heard.count($0) == 1 } }
                #expect(heard.count("b x") == 0 && heard.count("a1 y") == 0 && heard.count("a2 y") == 0, "\(heard.all)")

                // The server ends the listening connection: the hub takes another and listens again.
                let ended = try await database.query("SELECT pg_terminate_backend(\(try #require(first.first)))", logger: Self.logger)
                #expect(try ended.first?.decode(Bool.self) == true)
                try await eventually("each listener told that listening runs again") {
                    ["a1", "a2", "b"].allSatisfy { heard.count("\($0) listening") == 2 }
                }
                // The ended backend can stay listed a moment after the new one listens.
                var second: [Int32] = []
                try await eventually("one new connection listens") {
                    second = try await Self.pids(database)
                    return second.count == 1 && second != first
                }
                try await database.query("SELECT pg_notify('alpha', 'z'), pg_notify('beta', 'w')", logger: Self.logger)
                try await eventually("each later notification heard") { ["a1 z", "a2 z", "b w"].allSatisfy { heard.count($0) == 1 } }
                group.cancelAll()
            }
            // Told once a connection, heard once a notification.
            #expect(["a1", "a2", "b"].allSatisfy { heard.count("\($0) listening") == 2 }, "\(heard.all)")
            #expect(heard.all.count == 6 + 6, "\(heard.all)")
        }
    }

    /// Listeners that come after listening began: one of a channel listened on already is told at once; one of a new
    /// channel gets its `LISTEN` on the same connection. Each hears from then on.
    @Test func laterListenersJoinTheConnectionThatListens() async throws {
        try await TestDatabase.withClient(migrated: false) { database in
            let heard = Heard()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await database.listen("alpha", listening: { heard.add("early listening") }) { heard.add("early \($0)") } }
                try await eventually("the first listener told") { heard.count("early listening") == 1 }
                let first = try await Self.pids(database)
                try #require(first.count == 1)
                group.addTask { await database.listen("alpha", listening: { heard.add("late listening") }) { heard.add("late \($0)") } }
                group.addTask { await database.listen("beta", listening: { heard.add("new listening") }) { heard.add("new \($0)") } }
                try await eventually("the later listeners told") { heard.count("late listening") == 1 && heard.count("new listening") == 1 }
                try await database.query("SELECT pg_notify('alpha', 'x'), pg_notify('beta', 'y')", logger: Self.logger)
                try await eventually("each heard") { heard.count("early x") == 1 && heard.count("late x") == 1 && heard.count("new y") == 1 }
                #expect(try await Self.pids(database) == first, "the same connection listens on the new channel")
                group.cancelAll()
            }
            #expect(heard.all.count == 6, "told once, heard once each: \(heard.all)")
        }
    }
}
