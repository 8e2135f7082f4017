import Foundation
import Storage
import Synchronization

/// Claimed messages this instance holds, per endpoint, until a request slot is free. A claim takes more of an
/// endpoint's messages than it has slots free (up to ``OutboundDelivery/heldPerSlot`` times its slots), so an answer's
/// freed slot is refilled at once from here, and a claim (a round trip and a plan) is paid per dozens of messages,
/// not per message. A message waits here in claim order, which is feed order per stream; one that follows another of
/// its claim in its stream (``ClaimedWebhookMessage/after``) starts only once that one was answered 2xx, and goes back
/// (``answered(_:delivered:)``) when it was not.
final class HeldMessages: Sendable {
    struct Held: Sendable {
        var message: ClaimedWebhookMessage
        var endpoint: WebhookEndpointRecord
        /// When the claim that leased it was made: the lease runs from (a little after) then.
        var claimedAt: ContinuousClock.Instant
    }

    private struct State {
        var queues: [UUID: [Held]] = [:]
        /// Messages held or in flight that have no answer yet: a message that follows one of them waits.
        var unanswered: Set<Int64> = []
    }

    private let state = Mutex(State())

    /// Adds a claim's messages behind those already held.
    func add(_ held: [Held]) {
        state.withLock { state in
            for item in held {
                state.queues[item.endpoint.id, default: []].append(item)
                state.unanswered.insert(item.message.id)
            }
        }
    }

    /// Held messages per endpoint (endpoints with none left out).
    var counts: [UUID: Int] {
        state.withLock { $0.queues.mapValues(\.count) }
    }

    var total: Int {
        state.withLock { $0.queues.values.reduce(0) { $0 + $1.count } }
    }

    /// The held messages that may start now, each with a slot taken in `gates` and the wait its rate limit asks for;
    /// the oldest of each endpoint first, as many as the endpoint has slots free, passing over those whose stream's
    /// previous message has no answer yet.
    func startable(_ gates: EndpointGates, now: ContinuousClock.Instant = .now) -> [(held: Held, wait: Duration)] {
        state.withLock { state in
            var started: [(held: Held, wait: Duration)] = []
            for endpoint in Array(state.queues.keys) {
                guard let queue = state.queues[endpoint] else { continue }
                var waiting: [Held] = []
                var full = false
                for item in queue {
                    let turn = item.message.after.map { !state.unanswered.contains($0) } ?? true
                    if turn, !full {
                        if let wait = gates.enter(endpoint, rateLimit: item.endpoint.rateLimit, now: now) {
                            started.append((item, wait))
                            continue
                        }
                        // No slot left: the rest keep their places.
                        full = true
                    }
                    waiting.append(item)
                }
                state.queues[endpoint] = waiting.isEmpty ? nil : waiting
            }
            return started
        }
    }

    /// A started message's answer is in: on a 2xx the message behind it in its stream may start; otherwise (or when it
    /// was handed back unsent) the messages behind it must not go before it, and are removed and returned, to be
    /// handed back.
    @discardableResult
    func answered(_ message: ClaimedWebhookMessage, delivered: Bool) -> [Held] {
        state.withLock { state in
            state.unanswered.remove(message.id)
            guard !delivered, var queue = state.queues[message.endpointId] else { return [] }
            var dropped: Set<Int64> = [message.id]
            var removed: [Held] = []
            // In claim order, so a chain's later messages come after the ones they follow.
            queue.removeAll { item in
                guard let after = item.message.after, dropped.contains(after) else { return false }
                dropped.insert(item.message.id)
                state.unanswered.remove(item.message.id)
                removed.append(item)
                return true
            }
            state.queues[message.endpointId] = queue.isEmpty ? nil : queue
            return removed
        }
    }

    /// Every held message, removed (at shutdown: handed back rather than sent).
    func removeAll() -> [Held] {
        state.withLock { state in
            defer { state = State() }
            return state.queues.values.flatMap { $0 }
        }
    }
}
