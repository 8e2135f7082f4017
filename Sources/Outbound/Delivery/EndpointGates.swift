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

    private struct Pace {
        /// From a slot taken to the answer, a moving average (rate-limit waits included).
        var time: Duration
        var lastAnswered: ContinuousClock.Instant
    }

    public let maxInFlight: Int
    private let gates = Mutex<[UUID: Gate]>([:])
    /// Each endpoint's recent pace. An endpoint not answered for ``paceMemory`` is forgotten: it may have been deleted
    /// (the map would otherwise keep every endpoint this instance ever sent to), and a pace that old says little.
    private let paces = Mutex<[UUID: Pace]>([:])
    static let paceMemory: Duration = .seconds(600)

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

    /// Notes how long a request to `endpoint` held its slot, from taking it to the answer.
    public func answered(_ endpoint: UUID, after time: Duration, now: ContinuousClock.Instant = .now) {
        paces.withLock { paces in
            paces[endpoint] = Pace(time: paces[endpoint].map { $0.time * 0.8 + time * 0.2 } ?? time, lastAnswered: now)
        }
    }

    /// The paces of endpoints answered within ``paceMemory``; older ones are dropped.
    private func recentPaces(now: ContinuousClock.Instant) -> [UUID: Duration] {
        paces.withLock { paces in
            paces = paces.filter { now - $0.value.lastAnswered < Self.paceMemory }
            return paces.mapValues(\.time)
        }
    }

    /// For each endpoint answered lately: how many of its messages may be held (in flight and waiting for a slot) so
    /// that the last one starts within `within` at the endpoint's recent pace, from `maxInFlight` up to `ceiling`. A
    /// slow or rate-limited endpoint is held less of: what it could not be sent before its lease runs short would only
    /// go back.
    public func holdings(within: Duration, ceiling: Int, now: ContinuousClock.Instant = .now) -> [UUID: Int] {
        recentPaces(now: now).mapValues { pace in
            guard pace > .zero else { return ceiling }
            let fits = Double(maxInFlight) * (within / pace)
            return fits >= Double(ceiling) ? ceiling : max(maxInFlight, Int(fits))
        }
    }

    /// For each endpoint answered lately at a pace that would not send `ceiling` messages one after another within
    /// `within`: how many would be (at least one). A chain of one stream goes out one message at a time.
    public func chainLengths(within: Duration, ceiling: Int, now: ContinuousClock.Instant = .now) -> [UUID: Int] {
        recentPaces(now: now).compactMapValues { pace in
            guard pace > .zero else { return nil }
            let fits = within / pace
            return fits >= Double(ceiling) ? nil : max(1, Int(fits))
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
