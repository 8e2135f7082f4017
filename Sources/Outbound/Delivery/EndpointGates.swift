import Foundation
import Synchronization

/// Per endpoint, in this instance: at most `maxInFlight` requests at once, and no more than its `rate_limit` messages a
/// second. A slow endpoint fills only its own slots, so it never delays another endpoint's deliveries.
public final class EndpointGates: Sendable {
    private struct Gate {
        var inFlight = 0
        /// The earliest time the next message may start under the rate limit.
        var nextStart: ContinuousClock.Instant?
    }

    public let maxInFlight: Int
    private let gates = Mutex<[UUID: Gate]>([:])

    public init(maxInFlight: Int) {
        self.maxInFlight = maxInFlight
    }

    /// Requests in flight per endpoint (those with none left out): the next claim takes no more of an endpoint's
    /// messages than it has slots free.
    public var inFlight: [UUID: Int] {
        gates.withLock { gates in gates.compactMapValues { $0.inFlight > 0 ? $0.inFlight : nil } }
    }

    /// Takes a slot; when the endpoint has a rate limit, also the time to wait before sending. nil when no slot is free.
    public func enter(_ endpoint: UUID, rateLimit: Int?, now: ContinuousClock.Instant = .now) -> Duration? {
        gates.withLock { gates in
            var gate = gates[endpoint] ?? Gate()
            guard gate.inFlight < maxInFlight else { return nil }
            gate.inFlight += 1
            var wait = Duration.zero
            if let rateLimit, rateLimit > 0 {
                let start = max(now, gate.nextStart ?? now)
                wait = start - now
                gate.nextStart = start + .seconds(1) / rateLimit
            }
            gates[endpoint] = gate
            return wait
        }
    }

    public func leave(_ endpoint: UUID) {
        gates.withLock { gates in
            guard var gate = gates[endpoint] else { return }
            gate.inFlight -= 1
            if gate.inFlight <= 0, gate.nextStart.map({ $0 < .now }) ?? true { gates[endpoint] = nil } else { gates[endpoint] = gate }
        }
    }
}
