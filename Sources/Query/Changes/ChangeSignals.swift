import Foundation
import Synchronization

/// Wakes held change-feed requests. A held request keeps its place here from before its first read until it answers,
/// so a signal that comes while it reads (not parked) is kept for its next wait instead of lost. Signals come from
/// ``ChangeListener`` (Postgres `NOTIFY` at commit, and a tick for changes that became readable later) and from
/// shutdown. Bounded: past `capacity` held requests, ``hold(companyId:)`` refuses.
public final class ChangeSignals: Sendable {
    private struct Waiter {
        /// The company whose changes wake it; nil for the all-company feed, which any company's wake.
        let companyId: UUID?
        var continuation: CheckedContinuation<Void, Never>?
        /// Signalled since its last wait returned.
        var signalled: Bool
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var nextId: UInt64 = 0
        var shuttingDown = false
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// A place among the held requests, for `companyId`'s feed (every company's when nil), or nil when `capacity` are
    /// held already or the instance is stopping.
    public func hold(companyId: UUID?) -> Hold? {
        state.withLock { state in
            guard state.waiters.count < capacity, !state.shuttingDown else { return nil }
            state.nextId += 1
            state.waiters[state.nextId] = Waiter(companyId: companyId, continuation: nil, signalled: false)
            return Hold(signals: self, id: state.nextId)
        }
    }

    /// How many requests are held now.
    public var held: Int { state.withLock { $0.waiters.count } }

    /// How many of them are waiting for a signal now, rather than reading.
    public var waiting: Int { state.withLock { $0.waiters.values.count { $0.continuation != nil } } }

    public var isShuttingDown: Bool { state.withLock(\.shuttingDown) }

    /// A held request's place; give it back with ``release()`` (once).
    public struct Hold: Sendable {
        let signals: ChangeSignals
        let id: UInt64

        /// Returns once the request's feed was signalled since the last wait returned (at once if it was meanwhile),
        /// the instance stops, or `timeout` passes, whichever comes first.
        public func wait(timeout: Duration) async {
            await signals.wait(id, timeout: timeout)
        }

        public func release() {
            _ = signals.state.withLock { $0.waiters.removeValue(forKey: id) }
        }
    }

    /// A commit changed `companyId`'s data: its waiters and the all-company waiters wake.
    public func signal(companyId: UUID) {
        signal { $0 == nil || $0 == companyId }
    }

    /// Changes of `companies` became readable: their waiters wake, and the all-company waiters when there are any.
    public func signal(companies: Set<UUID>) {
        guard !companies.isEmpty else { return }
        signal { $0.map(companies.contains) ?? true }
    }

    /// Every waiter wakes: changes may have been missed (listening restarted, a tick failed), or the instance is
    /// stopping (`stopping`: held requests answer now, and no new one is held).
    public func signalAll(stopping: Bool = false) {
        if stopping { state.withLock { $0.shuttingDown = true } }
        signal { _ in true }
    }

    private func signal(_ wakes: (UUID?) -> Bool) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            var woken: [CheckedContinuation<Void, Never>] = []
            for (id, var waiter) in state.waiters where wakes(waiter.companyId) {
                if let continuation = waiter.continuation { woken.append(continuation) }
                waiter.continuation = nil
                waiter.signalled = true
                state.waiters[id] = waiter
            }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    private func wait(_ id: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.parked(id) }
            await group.next()
            group.cancelAll()
            // The signal side: a cancelled sleep ends at once; a waiter still parked is resumed here.
            self.unpark(id)
        }
        // Taken: a signal from now on is for the next wait (the read that follows this one sees what came before).
        state.withLock { $0.waiters[id]?.signalled = false }
    }

    /// Parks until a signal or ``unpark(_:)`` resumes waiter `id`; at once if it was signalled since its last wait,
    /// is not held, or the instance is stopping.
    private func parked(_ id: UInt64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                guard var waiter = state.waiters[id], !waiter.signalled, !state.shuttingDown else { return true }
                waiter.continuation = continuation
                state.waiters[id] = waiter
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Ends waiter `id`'s wait: resumes it if parked, or marks it so that it does not park (its task may not have
    /// parked yet). The mark is taken with the wait's end.
    private func unpark(_ id: UInt64) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard var waiter = state.waiters[id] else { return nil }
            let continuation = waiter.continuation
            waiter.continuation = nil
            waiter.signalled = true
            state.waiters[id] = waiter
            return continuation
        }
        continuation?.resume()
    }
}
