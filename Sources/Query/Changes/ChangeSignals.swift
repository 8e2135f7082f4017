import Foundation
import Synchronization

/// Wakes held change-feed requests: one instance's long polls wait here, and the listener (Postgres `NOTIFY` on
/// commit) or a shutdown wakes them. Bounded: past `capacity` held requests, ``hold(companyId:)`` refuses.
public final class ChangeSignals: Sendable {
    private struct Waiter {
        let companyId: UUID?
        var continuation: CheckedContinuation<Void, Never>?
        var woken: Bool
    }

    private struct State {
        var held = 0
        var waiters: [UInt64: Waiter] = [:]
        var nextId: UInt64 = 0
        var shuttingDown = false
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// A place among the held requests, or nil when `capacity` are held already (or the instance is stopping).
    public func hold() -> Hold? {
        state.withLock { state in
            guard state.held < capacity, !state.shuttingDown else { return nil }
            state.held += 1
            return Hold(signals: self)
        }
    }

    /// How many requests are held now.
    public var held: Int { state.withLock(\.held) }

    public var isShuttingDown: Bool { state.withLock(\.shuttingDown) }

    /// A held request's place; give it back with ``release()`` (once).
    public struct Hold: Sendable {
        let signals: ChangeSignals

        /// Waits until a change of `companyId` (any company's when nil) is signalled, the instance stops, or `timeout`
        /// passes, whichever comes first.
        public func wait(companyId: UUID?, timeout: Duration) async {
            await signals.wait(companyId: companyId, timeout: timeout)
        }

        public func release() {
            signals.state.withLock { $0.held -= 1 }
        }
    }

    /// A commit changed `companyId`'s data: its waiters and the all-company waiters wake.
    public func signal(companyId: UUID) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            var woken: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in state.waiters where waiter.companyId == nil || waiter.companyId == companyId {
                if let continuation = waiter.continuation { woken.append(continuation) }
                state.waiters[id] = Waiter(companyId: waiter.companyId, continuation: nil, woken: true)
            }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    /// Every waiter wakes: the listener lost its connection (waiters re-read once), or the instance is stopping
    /// (`stopping`: held requests answer now, and no new one is held).
    public func signalAll(stopping: Bool = false) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if stopping { state.shuttingDown = true }
            var woken: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in state.waiters {
                if let continuation = waiter.continuation { woken.append(continuation) }
                state.waiters[id] = Waiter(companyId: waiter.companyId, continuation: nil, woken: true)
            }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    private func wait(companyId: UUID?, timeout: Duration) async {
        let id = state.withLock { state -> UInt64? in
            guard !state.shuttingDown else { return nil }
            state.nextId += 1
            state.waiters[state.nextId] = Waiter(companyId: companyId, continuation: nil, woken: false)
            return state.nextId
        }
        guard let id else { return }
        defer { _ = state.withLock { $0.waiters.removeValue(forKey: id) } }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.signalled(id) }
            await group.next()
            group.cancelAll()
            // The signal side: a cancelled sleep ends at once; a waiter still parked is resumed here.
            self.wake(id)
        }
    }

    /// Parks until `wake`/`signal` resumes waiter `id` (at once if it was woken before parking).
    private func signalled(_ id: UInt64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                guard var waiter = state.waiters[id], !waiter.woken else { return true }
                waiter.continuation = continuation
                state.waiters[id] = waiter
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    private func wake(_ id: UInt64) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard var waiter = state.waiters[id] else { return nil }
            let continuation = waiter.continuation
            waiter.continuation = nil
            waiter.woken = true
            state.waiters[id] = waiter
            return continuation
        }
        continuation?.resume()
    }
}
