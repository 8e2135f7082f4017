import NIOCore
import Synchronization

/// A few pipelined connections, each shared by every caller that lands on it (round robin). A slot
/// whose connection broke is reopened by the next call; a failed open starts a short back-off during
/// which calls fail fast instead of each waiting out a connect timeout against a Redis that is down.
final class RedisConnectionPool: Sendable {
    struct Figures: Sendable, Equatable {
        var maxConnections: Int
        var open: Int
        var idle: Int
        var waiting: Int
        var lastError: String?
    }

    private enum Slot {
        case empty
        case opening([CheckedContinuation<RedisConnection, any Error>])
        case open(RedisConnection)
    }

    private struct State {
        var slots: [Slot]
        var closed = false
        var downUntil: ContinuousClock.Instant?
        var lastError: String?
    }

    private let settings: RedisConnection.Settings
    private let group: any EventLoopGroup
    private let backOff: Duration
    private let state: Mutex<State>
    private let next = Atomic<Int>(0)
    private let size: Int

    init(settings: RedisConnection.Settings, size: Int, group: any EventLoopGroup, backOff: Duration) {
        self.settings = settings
        self.group = group
        self.backOff = backOff
        self.size = max(1, size)
        self.state = Mutex(State(slots: Array(repeating: .empty, count: max(1, size))))
    }

    private enum Step {
        case use(RedisConnection)
        case open
        case wait
    }

    /// A live connection: the slot's own, or one opened now (callers arriving meanwhile wait for it).
    func connection() async throws -> RedisConnection {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue % size
        let step = try state.withLock { state throws(RedisError) -> Step in
            if state.closed { throw .closed }
            switch state.slots[index] {
            case .open(let connection) where connection.isActive:
                return .use(connection)
            case .opening:
                return .wait
            case .empty, .open:
                if let downUntil = state.downUntil, downUntil > .now { throw .unavailable(state.lastError ?? "recent connection failure") }
                state.slots[index] = .opening([])
                return .open
            }
        }
        switch step {
        case .use(let connection):
            return connection
        case .wait:
            return try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { state -> Result<RedisConnection, any Error>? in
                    switch state.slots[index] {
                    case .opening(var waiters):
                        waiters.append(continuation)
                        state.slots[index] = .opening(waiters)
                        return nil
                    case .open(let connection): return .success(connection)
                    case .empty: return .failure(RedisError.unavailable(state.lastError ?? "connection failed"))
                    }
                }
                if let ready { continuation.resume(with: ready) }
            }
        case .open:
            do {
                let connection = try await RedisConnection.open(settings, group: group)
                let (waiters, closed) = state.withLock { state -> ([CheckedContinuation<RedisConnection, any Error>], Bool) in
                    guard case .opening(let waiters) = state.slots[index] else { return ([], state.closed) }
                    state.slots[index] = state.closed ? .empty : .open(connection)
                    state.downUntil = nil
                    state.lastError = nil
                    return (waiters, state.closed)
                }
                if closed {
                    connection.close()
                    waiters.forEach { $0.resume(throwing: RedisError.closed) }
                    throw RedisError.closed
                }
                waiters.forEach { $0.resume(returning: connection) }
                return connection
            } catch {
                let waiters = state.withLock { state -> [CheckedContinuation<RedisConnection, any Error>] in
                    state.downUntil = .now + backOff
                    state.lastError = (error as? RedisError)?.description ?? String(describing: error)
                    guard case .opening(let waiters) = state.slots[index] else { return [] }
                    state.slots[index] = .empty
                    return waiters
                }
                // Everyone waiting for this connection would only fail the same way; let them fail now.
                let reason = (error as? RedisError)?.description ?? String(describing: error)
                waiters.forEach { $0.resume(throwing: RedisError.unavailable(reason)) }
                throw error
            }
        }
    }

    /// A connection failed mid-call: remember why (health shows it); its slot reopens on the next call.
    func failed(_ error: RedisError) {
        state.withLock { $0.lastError = error.description }
    }

    func close() {
        let connections = state.withLock { state -> [RedisConnection] in
            state.closed = true
            var open: [RedisConnection] = []
            for (index, slot) in state.slots.enumerated() {
                if case .open(let connection) = slot { open.append(connection) }
                if case .opening = slot { continue }   // the opener sees `closed` and closes it
                state.slots[index] = .empty
            }
            return open
        }
        connections.forEach { $0.close() }
    }

    var figures: Figures {
        state.withLock { state in
            let open = state.slots.compactMap { slot -> RedisConnection? in
                if case .open(let connection) = slot, connection.isActive { return connection }
                return nil
            }
            return Figures(
                maxConnections: state.slots.count, open: open.count, idle: open.filter { $0.pending == 0 }.count,
                waiting: open.reduce(0) { $0 + $1.pending }, lastError: state.lastError)
        }
    }
}
