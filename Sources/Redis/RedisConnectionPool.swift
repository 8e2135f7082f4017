import DequeModule

/// Hands out at most `maxConnections` connections. Opening happens outside the actor (on the
/// client's thread pool); a failed open starts a short back-off during which calls fail fast
/// instead of each waiting out a connect timeout against a Redis that is down.
actor RedisConnectionPool {
    enum Grant: Sendable {
        case reuse(RedisConnection)
        case open
    }

    struct Figures: Sendable, Equatable {
        var maxConnections: Int
        var open: Int
        var idle: Int
        var waiting: Int
        var lastError: String?
        var inBackOff: Bool
    }

    private let maxConnections: Int
    private let backOff: Duration
    private var idle: [RedisConnection] = []
    private var open = 0
    private var waiters: Deque<(id: Int, continuation: CheckedContinuation<Grant, any Error>)> = []
    private var nextWaiterID = 0
    private var closed = false
    private var downUntil: ContinuousClock.Instant?
    private var lastError: String?

    init(maxConnections: Int, backOff: Duration) {
        self.maxConnections = maxConnections
        self.backOff = backOff
    }

    /// An idle connection or permission to open one, without waiting; nil when every connection is busy.
    func acquireNow() throws -> Grant? {
        if closed { throw RedisError.closed }
        if let connection = idle.popLast() { return .reuse(connection) }
        if open < maxConnections {
            try checkBackOff()
            open += 1
            return .open
        }
        return nil
    }

    /// An idle connection, or permission to open one (the slot is reserved for the caller).
    func acquire() async throws -> Grant {
        if let grant = try acquireNow() { return grant }
        let id = nextWaiterID
        nextWaiterID += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.append((id, continuation))
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    /// Gives a connection back; a broken one is closed and its slot passed on.
    func release(_ connection: RedisConnection, healthy: Bool) {
        guard healthy, !closed else {
            connection.close()
            slotFreed()
            return
        }
        if let waiter = waiters.popFirst() {
            waiter.continuation.resume(returning: .reuse(connection))
        } else {
            idle.append(connection)
        }
    }

    func opened() {
        downUntil = nil
        lastError = nil
    }

    /// The caller's reserved slot could not be filled.
    func openFailed(_ error: RedisError) {
        downUntil = .now + backOff
        lastError = error.description
        slotFreed()
        // Everyone queued would only fail the same way; let them fail now.
        while let waiter = waiters.popFirst() {
            waiter.continuation.resume(throwing: RedisError.unavailable(error.description))
        }
    }

    /// The caller gave up on a reserved slot before using it (its wait timed out).
    func abandonOpen() {
        slotFreed()
    }

    /// After a broken connection, the idle ones are suspect too (Redis restarted): drop them.
    func discardIdle(reason: String) {
        lastError = reason
        let stale = idle
        idle.removeAll()
        open -= stale.count
        stale.forEach { $0.close() }
    }

    func close() {
        closed = true
        idle.forEach { $0.close() }
        open -= idle.count
        idle.removeAll()
        while let waiter = waiters.popFirst() { waiter.continuation.resume(throwing: RedisError.closed) }
    }

    var figures: Figures {
        Figures(
            maxConnections: maxConnections, open: open, idle: idle.count, waiting: waiters.count,
            lastError: lastError, inBackOff: downUntil.map { $0 > .now } ?? false
        )
    }

    private func checkBackOff() throws(RedisError) {
        if let downUntil, downUntil > .now { throw .unavailable(lastError ?? "recent connection failure") }
    }

    private func slotFreed() {
        open -= 1
        if let waiter = waiters.popFirst() {
            open += 1
            waiter.continuation.resume(returning: .open)
        }
    }

    private func cancelWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }
}
