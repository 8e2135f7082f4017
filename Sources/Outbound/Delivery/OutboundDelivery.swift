import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import MarketplaceCore
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Storage
import Synchronization

/// Sends due messages: claims them (each stream's oldest, with the never-tried ones behind it, sent one after another,
/// each once the one before was answered 2xx; no more of an endpoint's than this instance may hold of it), holds them
/// per endpoint until a request slot is free (``HeldMessages``), signs each attempt as Standard Webhooks says, posts it
/// with `OUTBOUND_TIMEOUT`, records the attempt and judges it (``DeliveryJudge``); 2xx answers are recorded together
/// (``DeliveryRecorder``). A message answered otherwise takes the rest of its chain back with it. At most
/// `OUTBOUND_MAX_IN_FLIGHT` requests to one endpoint at once; up to `concurrency` messages held or in hand in this
/// instance. Claims run beside the sending: a slot freed by an answer takes the next held message at once, while a
/// claim fetches more. Claims run when the dispatcher stores messages (`NOTIFY outbound`), when a delivery ends, and
/// every `pollInterval` (retries fall due by time). At shutdown it claims nothing more, hands back what it holds, and
/// lets the messages in flight finish (a lease that lapses hands a message to another instance).
public final class OutboundDelivery: Service {
    let database: Database
    let cipher: CredentialCipher
    let configuration: AppConfiguration.Outbound
    let policy: EndpointURLPolicy
    let judge: DeliveryJudge
    let gates: EndpointGates
    let held = HeldMessages()
    let concurrency: Int
    let pollInterval: Duration
    let metrics: any MetricsFactory
    let logger: Logger
    public let owner: String
    let stopping = Atomic<Bool>(false)
    /// Messages started and not yet recorded.
    let running = Atomic<Int>(0)
    /// The stream the last claim ended at (nil: start from the first).
    let claimCursor = Mutex<WebhookMessagesTable.StreamKey?>(nil)

    /// The most messages one claim takes.
    static let claimBatch = 256
    /// Of one endpoint, an instance holds (in flight and waiting for a slot) at most this many times its slots, and
    /// less of an endpoint that could not be sent that many before their lease runs short (``EndpointGates/holdings``).
    static let heldPerSlot = 32
    /// Of one stream, a claim takes at most this many messages, sent one after another.
    static let chainLength = 16

    /// The lease a claim takes: long enough for the request, and for a wait behind the endpoint's other held messages.
    var lease: Duration { configuration.timeout + .seconds(10) }
    /// How long after its claim a held message may still start: its request must end before its lease does. A claim
    /// takes no more of an endpoint (nor of one of its streams) than its recent pace starts within this.
    var startWindow: Duration { lease - configuration.timeout - .seconds(2) }

    public init(database: Database, cipher: CredentialCipher, configuration: AppConfiguration.Outbound, concurrency: Int = 256,
                pollInterval: Duration = .milliseconds(200), metrics: any MetricsFactory, logger: Logger) {
        self.metrics = metrics
        self.database = database
        self.cipher = cipher
        self.configuration = configuration
        self.policy = EndpointURLPolicy(allowHTTP: configuration.allowHTTP, allowPrivateNetworks: configuration.allowPrivateNetworks)
        self.judge = DeliveryJudge(schedule: configuration.retrySchedule)
        self.gates = EndpointGates(maxInFlight: configuration.maxInFlight)
        self.concurrency = concurrency
        self.pollInterval = pollInterval
        self.logger = logger
        self.owner = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):outbound:\(UUID().uuidString.prefix(8).lowercased())"
    }

    public func run() async throws {
        // Redirects are never followed: a 3xx is an answer like any other non-2xx.
        let clients = PinnedClients()
        let recorder = DeliveryRecorder(database: database, owner: owner, logger: logger)
        // Both kinds of wake coalesce: a claim after many deliveries ended is one claim, and one pass starts every held
        // message that has a slot.
        let (claims, claim) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let (starts, start) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.pollInterval)
                        claim.yield()
                    }
                }
                // The dispatcher's `NOTIFY`: messages stored are sent without waiting for the poll.
                group.addTask { await self.database.listen(WebhookMessagesTable.channel, listening: { claim.yield() }) { _ in claim.yield() } }
                group.addTask { await recorder.run() }
                group.addTask {
                    for await _ in claims {
                        if self.stopping.load(ordering: .relaxed) { break }
                        if await self.claimMore() { claim.yield() }
                        start.yield()
                    }
                }
                for await _ in starts {
                    if stopping.load(ordering: .relaxed) {
                        for item in held.removeAll() { await handBack(item.message) }
                        if running.load(ordering: .relaxed) == 0 { break }
                        continue
                    }
                    for (item, wait) in held.startable(gates) {
                        running.add(1, ordering: .relaxed)
                        group.addTask {
                            // The slot goes to the next held message as soon as the answer is in, not after it is recorded.
                            await self.deliver(item, after: wait, clients: clients, recorder: recorder) { start.yield() }
                            self.running.subtract(1, ordering: .relaxed)
                            // At shutdown the loop ends once nothing is running: it needs this wake too.
                            start.yield()
                            claim.yield()
                        }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            start.yield()
        }
        await clients.shutdown()
    }

    /// One claim into ``held``, as much as there is room for, going on from the stream the last claim ended at (and
    /// around); true when it was full (more may be due at once).
    func claimMore() async -> Bool {
        let maxHeld = gates.maxInFlight * Self.heldPerSlot
        var counts = held.counts.merging(gates.inFlight, uniquingKeysWith: +)
        // An endpoint answering slowly is held less of: counted as holding what it may not be given.
        for (endpoint, holding) in gates.holdings(within: startWindow, ceiling: maxHeld) where holding < maxHeld {
            counts[endpoint, default: 0] += maxHeld - holding
        }
        let limit = min(Self.claimBatch, concurrency - held.total - running.load(ordering: .relaxed))
        guard limit > 0 else { return false }
        do {
            let claimedAt = ContinuousClock.now
            let start = claimCursor.withLock { $0 }
            let chains = gates.chainLengths(within: startWindow, ceiling: Self.chainLength)
            let (claimed, last) = try await ConnectionWatch.givingUp { [owner, lease, counts, database, logger] in
                try await WebhookMessagesTable.claimDue(
                    owner: owner, lease: lease, held: counts, maxHeld: maxHeld, after: start, limit: limit, chain: Self.chainLength,
                    chains: chains, database: database, logger: logger)
            }
            claimCursor.withLock { $0 = last }
            guard !claimed.isEmpty else { return false }
            let ids = Array(Set(claimed.map(\.endpointId)))
            let endpoints = try await database.withConnectionUnlessDropped { [logger] db in
                try await WebhookEndpointsTable.get(ids: ids, on: db, logger: logger)
            }
            var taken: [HeldMessages.Held] = []
            for message in claimed {
                // An endpoint deleted since took its messages with it.
                guard let endpoint = endpoints[message.endpointId] else {
                    await handBack(message)
                    continue
                }
                taken.append(HeldMessages.Held(message: message, endpoint: endpoint, claimedAt: claimedAt))
            }
            held.add(taken)
            return claimed.count == limit
        } catch {
            logger.warning("outbound: claiming messages failed", metadata: ["error": "\(String(reflecting: error))"])
            return false
        }
    }

    func handBack(_ message: ClaimedWebhookMessage) async {
        do {
            try await database.withConnection { db in try await WebhookMessagesTable.release(id: message.id, owner: owner, on: db, logger: logger) }
        } catch {
            logger.debug("outbound: a message could not be handed back; its lease lapses", metadata: ["error": "\(error)"])
        }
    }

    /// One attempt: waits out the endpoint's rate limit, posts, frees the endpoint's slot as soon as the answer is in,
    /// then records it; the message behind it in its chain may start once a 2xx is recorded, and goes back otherwise.
    /// A message that waited so long for its slot that its lease could lapse during the request is handed back
    /// instead: past its lease another instance may be sending it too.
    func deliver(_ item: HeldMessages.Held, after wait: Duration, clients: PinnedClients, recorder: DeliveryRecorder,
                 slotFreed: () -> Void) async {
        let (message, endpoint) = (item.message, item.endpoint)
        if wait > .zero { try? await Task.sleep(for: wait) }
        guard ContinuousClock.now < item.claimedAt + startWindow else {
            let behind = held.answered(message, delivered: false)
            gates.leave(endpoint.id)
            slotFreed()
            await handBack(message)
            for follower in behind { await handBack(follower.message) }
            return
        }
        let attempt = await post(message, to: endpoint, clients: clients)
        gates.answered(endpoint.id, after: wait + attempt.latency)
        gates.leave(endpoint.id)
        slotFreed()
        if let status = attempt.status, judge.judge(attempt: message.attempt, status: status, retryAfter: nil, random: 0) == .delivered {
            // The stream's next message starts once this one is recorded delivered, not merely answered: were the
            // record lost, this one would be sent again after it.
            var recorded = false
            do {
                let delivered = WebhookMessagesTable.Delivered(id: message.id, statusCode: status, latency: attempt.latency, responseExcerpt: attempt.excerpt)
                recorded = try await recorder.record(delivered)
            } catch {
                unrecorded(message, error)
            }
            for follower in held.answered(message, delivered: recorded) { await handBack(follower.message) }
            guard recorded else { return }
            Counter(label: "outbound_deliveries_total", dimensions: [("outcome", "delivered")], factory: metrics).increment()
            Timer(label: "outbound_delivery_seconds", factory: metrics).record(duration: attempt.latency)
        } else {
            // The rest of its chain goes back while this one is still leased, so no claim takes them before it.
            for follower in held.answered(message, delivered: false) { await handBack(follower.message) }
            do {
                try await record(message, endpoint: endpoint, attempt)
            } catch {
                unrecorded(message, error)
            }
        }
    }

    func unrecorded(_ message: ClaimedWebhookMessage, _ error: any Error) {
        logger.warning("outbound: a delivery could not be recorded; its lease lapses and it is tried again",
                       metadata: ["message_id": "\(message.messageId)", "error": "\(String(reflecting: error))"])
    }

    struct Attempt {
        var status: Int?
        var retryAfter: String?
        var latency: Duration
        var excerpt: String?
        var error: String?
    }

    func post(_ message: ClaimedWebhookMessage, to endpoint: WebhookEndpointRecord, clients: PinnedClients) async -> Attempt {
        let started = ContinuousClock.now
        let client: HTTPClient
        do {
            client = clients.client(for: try await policy.check(endpoint.url))
        } catch {
            return Attempt(latency: ContinuousClock.now - started, error: "refused: the URL \(error.reason)")
        }
        var keys: [SymmetricKey] = []
        do {
            keys.append(try secretKey(endpoint.secretSealed))
            if let previous = endpoint.previousSecretSealed, let until = endpoint.previousSecretUntil, until > Date() {
                keys.append(try secretKey(previous))
            }
        } catch {
            return Attempt(latency: .zero, error: "the endpoint's secret cannot be opened (TOKEN_ENCRYPTION_KEY changed?)")
        }
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "marketplace-webhooks/\(MarketplaceVersion.current)")
        for header in WebhookSigner.headers(id: message.messageId, timestamp: Int(Date().timeIntervalSince1970), body: message.body, keys: keys) {
            request.headers.add(name: header.name, value: header.value)
        }
        request.body = .bytes(message.body)
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(configuration.timeout / .nanoseconds(1))))
            var excerpt = ByteBuffer()
            for try await var chunk in response.body {
                if excerpt.readableBytes < 1024 { excerpt.writeBuffer(&chunk) }
            }
            let text = excerpt.readableBytes > 0 ? String(decoding: excerpt.readableBytesView.prefix(1024), as: UTF8.self) : nil
            return Attempt(status: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"),
                           latency: ContinuousClock.now - started, excerpt: text)
        } catch {
            return Attempt(latency: ContinuousClock.now - started, error: Self.describe(error))
        }
    }

    func secretKey(_ sealed: [UInt8]) throws -> SymmetricKey {
        guard let key = WebhookSigner.key(of: try cipher.open(sealed)) else { throw CredentialCipher.Failure.cannotOpen }
        return key
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout: "timed out"
        case let error as HTTPClientError where error == .connectTimeout: "connect timed out"
        default: "no answer: \(String(describing: error).prefix(200))"
        }
    }

    func record(_ message: ClaimedWebhookMessage, endpoint: WebhookEndpointRecord, _ attempt: Attempt) async throws {
        let verdict = judge.judge(attempt: message.attempt, status: attempt.status, retryAfter: attempt.retryAfter, random: Double.random(in: 0...1))
        let next: WebhookAttemptResult.Next
        switch verdict {
        case .delivered: next = .delivered
        case .retry(let after): next = .retry(after: after)
        case .failed, .gone: next = .failed
        }
        let result = WebhookAttemptResult(statusCode: attempt.status, latency: attempt.latency, responseExcerpt: attempt.excerpt,
                                          error: attempt.error ?? (verdict == .delivered ? nil : attempt.status.map { "answered \($0)" }), next: next)
        let disabled = try await database.withTransaction(logger: logger) { db -> Bool in
            guard try await WebhookMessagesTable.finish(id: message.id, owner: owner, result, on: db, logger: logger) else { return false }
            switch verdict {
            case .delivered:
                try await WebhookEndpointsTable.recordSuccess(id: endpoint.id, on: db, logger: logger)
                return false
            case .gone:
                let disabled = try await WebhookEndpointsTable.disable(id: endpoint.id, reason: "answered 410 Gone", on: db, logger: logger)
                try await WebhookMessagesTable.failPending(endpointId: endpoint.id, reason: "the endpoint answered 410 Gone", on: db, logger: logger)
                return disabled
            case .retry, .failed:
                let disabled = try await WebhookEndpointsTable.recordFailure(id: endpoint.id, disableAfter: configuration.disableAfter, on: db, logger: logger)
                if disabled {
                    try await WebhookMessagesTable.failPending(endpointId: endpoint.id, reason: "the endpoint was disabled after failing", on: db, logger: logger)
                }
                return disabled
            }
        }
        let outcome = switch verdict { case .delivered: "delivered"; case .retry: "retry"; case .failed: "failed"; case .gone: "gone" }
        Counter(label: "outbound_deliveries_total", dimensions: [("outcome", outcome)], factory: metrics).increment()
        Timer(label: "outbound_delivery_seconds", factory: metrics).record(duration: attempt.latency)
        if disabled {
            Counter(label: "outbound_endpoints_disabled_total", factory: metrics).increment()
            logger.warning("outbound: endpoint disabled", metadata: ["endpoint_id": "\(endpoint.id)", "verdict": "\(verdict)"])
        }
    }
}
