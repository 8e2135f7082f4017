import Foundation
import Storage
import Synchronization

/// Claimed messages this instance holds, per endpoint, until a request slot is free. A claim takes more of an
/// endpoint's messages than it has slots free (up to ``OutboundDelivery/heldPerSlot`` times its slots), so an answer's
/// freed slot is refilled at once from here, and a claim (a round trip and a plan) is paid per dozens of messages,
/// not per message. A message waits here in claim order, which is feed order per stream.
final class HeldMessages: Sendable {
    struct Held: Sendable {
        var message: ClaimedWebhookMessage
        var endpoint: WebhookEndpointRecord
        /// When the claim that leased it was made: the lease runs from (a little after) then.
        var claimedAt: ContinuousClock.Instant
    }

    private let queues = Mutex<[UUID: [Held]]>([:])

    /// Adds a claim's messages behind those already held.
    func add(_ held: [Held]) {
        queues.withLock { queues in
            for item in held { queues[item.endpoint.id, default: []].append(item) }
        }
    }

    /// Held messages per endpoint (endpoints with none left out).
    var counts: [UUID: Int] {
        queues.withLock { $0.mapValues(\.count) }
    }

    var total: Int {
        queues.withLock { $0.values.reduce(0) { $0 + $1.count } }
    }

    /// The held messages that may start now, each with a slot taken in `gates` and the wait its rate limit asks for;
    /// the oldest of each endpoint first, as many as the endpoint has slots free.
    func startable(_ gates: EndpointGates, now: ContinuousClock.Instant = .now) -> [(held: Held, wait: Duration)] {
        queues.withLock { queues in
            var started: [(held: Held, wait: Duration)] = []
            for endpoint in Array(queues.keys) {
                guard var queue = queues[endpoint] else { continue }
                var taken = 0
                while taken < queue.count, let wait = gates.enter(endpoint, rateLimit: queue[taken].endpoint.rateLimit, now: now) {
                    started.append((queue[taken], wait))
                    taken += 1
                }
                queue.removeFirst(taken)
                queues[endpoint] = queue.isEmpty ? nil : queue
            }
            return started
        }
    }

    /// Every held message, removed (at shutdown: handed back rather than sent).
    func removeAll() -> [Held] {
        queues.withLock { queues in
            defer { queues = [:] }
            return queues.values.flatMap { $0 }
        }
    }
}
