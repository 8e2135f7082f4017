import MarketplaceCore
import PostgresNIO
import Synchronization

/// The server closed a connection that work was still waiting on: the work was given up (its stuck call left behind).
public struct ConnectionClosedError: Error, Sendable, Equatable, CustomStringConvertible {
    public init() {}
    public var description: String { "the database connection closed while the work still waited on it" }
}

/// The connections one piece of work (a job's run) holds, so it can be given up when one of them dies under it.
///
/// postgres-nio sends a statement with `channel.write(_, promise: nil)`: on a connection whose channel has closed and
/// lost its handlers (a Postgres crash or restart, a terminated backend), the write is dropped and the call never
/// returns, cancelled or not. A job stuck there kept its lease renewed by the worker, so its key stayed blocked for
/// minutes. ``Database`` notes here each connection it hands out while a watch is the task's ``current``; whoever runs
/// the work asks ``closedUnderWork(for:now:)`` from time to time and gives the work up when a connection has been closed
/// under it for longer than a failing call takes to come back.
public final class ConnectionWatch: Sendable {
    @TaskLocal public static var current: ConnectionWatch?

    private struct Held {
        var connection: PostgresConnection
        var closedSince: ContinuousClock.Instant?
    }

    private let held = Mutex<(next: Int, connections: [Int: Held])>((0, [:]))

    public init() {}

    /// Notes `connection` held until ``release(_:)`` with the returned token.
    public func hold(_ connection: PostgresConnection) -> Int {
        held.withLock { state in
            state.next += 1
            state.connections[state.next] = Held(connection: connection)
            return state.next
        }
    }

    public func release(_ token: Int) {
        _ = held.withLock { $0.connections.removeValue(forKey: token) }
    }

    /// True when a connection still held has been seen closed for at least `grace` (the first call to see it closed
    /// starts its clock: ask more often than `grace`).
    public func closedUnderWork(for grace: Duration, now: ContinuousClock.Instant = .now) -> Bool {
        held.withLock { state in
            var stuck = false
            for (token, entry) in state.connections where entry.connection.isClosed {
                let since = entry.closedSince ?? now
                state.connections[token]?.closedSince = since
                if now - since >= grace { stuck = true }
            }
            return stuck
        }
    }
}

extension ConnectionWatch {
    /// Runs `operation` under a watch of its own and gives it up (``ConnectionClosedError``, the stuck call left
    /// behind) once a connection it holds has been closed under it for `grace`: for the loops that must go on after
    /// Postgres restarts (claims, dispatch rounds, recording outcomes).
    public static func givingUp<Result: Sendable>(
        after grace: Duration = .seconds(5), _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let watch = ConnectionWatch()
        return try await withWatchdog {
            try await ConnectionWatch.$current.withValue(watch) { try await operation() }
        } watchdog: {
            while true {
                try await Task.sleep(for: grace / 4)
                if watch.closedUnderWork(for: grace) { throw ConnectionClosedError() }
            }
        }
    }
}

extension Database {
    /// ``withConnection(isolation:_:)`` for the loops that must go on after Postgres restarts: given up
    /// (``ConnectionClosedError``) once its connection has been closed under it for `grace`.
    public func withConnectionUnlessDropped<Result: Sendable>(
        after grace: Duration = .seconds(5), _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await ConnectionWatch.givingUp(after: grace) { try await self.withConnection { db in try await body(db) } }
    }
}
