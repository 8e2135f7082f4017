import AsyncHTTPClient
import Foundation
import Logging
import MarketplaceCore
import Nango
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Delivers webhooks as Nango does (docs/nango.md §1.1–1.3): the body serialised once (compact, sorted
/// keys), both signature headers over those bytes, a 20 s timeout per attempt, at most 3 attempts
/// waiting 3 s then 6 s (scaled by `retryDelayScale` for tests), retried only on 5xx and network
/// errors, then dropped. Each delivery runs in the service's task group, so shutdown waits for them.
final class WebhookSender: Service, Sendable {
    struct Delivery: Codable, Sendable {
        var id: Int
        var type: String
        var body: String
        var attempts: [Int]          // HTTP status per attempt, 0 for a network error
        var outcome: String          // pending | delivered | dropped | no_url
        var signatureValid: Bool
    }

    private struct Outgoing: Sendable {
        var id: Int
        var body: [UInt8]
        var badSignature: Bool
    }

    let urls: [String]
    let signingKey: String
    let retryDelays: [Duration]
    let attemptTimeout: Duration
    private let state: EmulatorState
    private let logger: Logger
    /// Each element is delivered in order by one task: a duplicate or a swapped pair arrives as asked.
    private let queue: AsyncStream<[Outgoing]>
    private let continuation: AsyncStream<[Outgoing]>.Continuation
    private let log = Mutex<(next: Int, deliveries: [Delivery], held: Outgoing?)>((1, [], nil))
    /// Nango Cloud's delivery circuit breaker (docs/nango.md §1.3): 5 failed deliveries within 10 s open it for 60 s,
    /// and webhooks meanwhile are dropped without an attempt.
    private let breaker = Mutex<(failures: [ContinuousClock.Instant], openUntil: ContinuousClock.Instant?)>(([], nil))
    static let breakerThreshold = 5
    static let breakerWindow = Duration.seconds(10)
    static let breakerOpenFor = Duration.seconds(60)

    init(urls: [String], signingKey: String, retryDelayScale: Double, state: EmulatorState, logger: Logger) {
        self.urls = urls
        self.signingKey = signingKey
        self.retryDelays = [3.0, 6.0].map { Duration.milliseconds(Int($0 * 1000 * retryDelayScale)) }
        self.attemptTimeout = .seconds(20)
        self.state = state
        self.logger = logger
        (self.queue, self.continuation) = AsyncStream.makeStream(of: [Outgoing].self)
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            for await batch in queue.cancelOnGracefulShutdown() {
                group.addTask {
                    for outgoing in batch { await self.deliver(outgoing) }
                }
            }
        }
    }

    /// Serialises and queues one webhook; returns its delivery id.
    @discardableResult
    func send(_ payload: JSONValue) async -> Int {
        let body = (try? NangoWebhookBody.serialize(payload)) ?? []
        let faults = await state.takeWebhookFaults()
        let type = payload["type"]?.string ?? "unknown"
        let outgoing: Outgoing = log.withLock { log in
            let outgoing = Outgoing(id: log.next, body: body, badSignature: faults.badSignature)
            log.next += 1
            log.deliveries.append(Delivery(
                id: outgoing.id, type: type, body: String(decoding: body, as: UTF8.self), attempts: [],
                outcome: urls.isEmpty ? "no_url" : "pending", signatureValid: !faults.badSignature))
            if log.deliveries.count > 500 { log.deliveries.removeFirst(log.deliveries.count - 500) }
            return outgoing
        }
        guard !urls.isEmpty else { return outgoing.id }
        var batch = [outgoing]
        if faults.reorder {
            // Hold this one back until the next, then deliver the next first.
            let held: Outgoing? = log.withLock { log in
                guard let held = log.held else {
                    log.held = outgoing
                    return nil
                }
                log.held = nil
                return held
            }
            guard let held else { return outgoing.id }
            batch.append(held)
        } else if let held = log.withLock({ log -> Outgoing? in defer { log.held = nil }; return log.held }) {
            batch.append(held)   // reordering was switched off: release what was held
        }
        continuation.yield(faults.duplicate ? batch.flatMap { [$0, $0] } : batch)
        return outgoing.id
    }

    var deliveries: [Delivery] { log.withLock { $0.deliveries } }

    /// Whether the breaker is open now (it closes by itself once its time is up).
    var circuitOpen: Bool {
        breaker.withLock { state in
            guard let until = state.openUntil else { return false }
            if until > .now { return true }
            state.openUntil = nil
            return false
        }
    }

    private func recordFailure() {
        breaker.withLock { state in
            let now = ContinuousClock.now
            state.failures = state.failures.filter { now - $0 < Self.breakerWindow } + [now]
            if state.failures.count >= Self.breakerThreshold {
                state.openUntil = now + Self.breakerOpenFor
                state.failures = []
            }
        }
    }

    /// Every configured URL gets every webhook (a secondary URL is not a fallback, docs/nango.md §1.3).
    private func deliver(_ outgoing: Outgoing) async {
        let key = outgoing.badSignature ? signingKey + "-wrong" : signingKey
        if circuitOpen {
            record(outgoing.id) { $0.outcome = "dropped_circuit_open" }
            logger.warning("webhook dropped: the delivery circuit breaker is open", metadata: ["delivery": "\(outgoing.id)"])
            return
        }
        var deliveredEverywhere = true
        for url in urls {
            var delivered = false
            for attempt in 0...retryDelays.count {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "content-type", value: "application/json")
                request.headers.add(name: "user-agent", value: "nango/0.58.0 (linux/6; node.js/20.18.0) nango-emulator")
                request.headers.add(name: NangoWebhookSignature.legacyHeader, value: NangoWebhookSignature.legacy(body: outgoing.body, key: key))
                request.headers.add(name: NangoWebhookSignature.hmacHeader, value: NangoWebhookSignature.hmac(body: outgoing.body, key: key))
                request.body = .bytes(ByteBuffer(bytes: outgoing.body))
                var status = 0
                do {
                    let response = try await HTTPClient.shared.execute(
                        request, timeout: .nanoseconds(Int64(attemptTimeout / .nanoseconds(1))))
                    status = Int(response.status.code)
                    _ = try? await response.body.collect(upTo: 1 << 20)
                } catch {
                    status = 0
                }
                record(outgoing.id) { $0.attempts.append(status) }
                if (200..<300).contains(status) { delivered = true; break }
                // Nango retries 5xx and network errors only; 3xx and 4xx (429 included) are final.
                guard status == 0 || status >= 500, attempt < retryDelays.count else { break }
                try? await Task.sleep(for: retryDelays[attempt])
            }
            if !delivered {
                deliveredEverywhere = false
                recordFailure()
            }
        }
        record(outgoing.id) { $0.outcome = deliveredEverywhere ? "delivered" : "dropped" }
        if !deliveredEverywhere { logger.warning("webhook dropped after retries", metadata: ["delivery": "\(outgoing.id)"]) }
    }

    private func record(_ id: Int, _ change: (inout Delivery) -> Void) {
        log.withLock { log in
            if let index = log.deliveries.lastIndex(where: { $0.id == id }) { change(&log.deliveries[index]) }
        }
    }
}
