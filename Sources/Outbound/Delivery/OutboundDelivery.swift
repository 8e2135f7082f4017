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

/// Sends due messages: claims them (the oldest of each stream first, no more of an endpoint's than it has slots free),
/// signs each attempt as Standard Webhooks says, posts it with `OUTBOUND_TIMEOUT`, records the attempt and judges it
/// (``DeliveryJudge``); 2xx answers are recorded together (``DeliveryRecorder``). Up to `concurrency` messages at once
/// in this instance, at most `OUTBOUND_MAX_IN_FLIGHT` requests of them to one endpoint. Wakes when the dispatcher
/// stores messages (`NOTIFY outbound`), when a delivery ends, and every `pollInterval` (retries fall due by time). At
/// shutdown it claims nothing more and lets the messages in hand finish (a lease that lapses hands a message to
/// another instance).
public final class OutboundDelivery: Service {
    let database: Database
    let cipher: CredentialCipher
    let configuration: AppConfiguration.Outbound
    let policy: EndpointURLPolicy
    let judge: DeliveryJudge
    let gates: EndpointGates
    let concurrency: Int
    let pollInterval: Duration
    let metrics: any MetricsFactory
    let logger: Logger
    public let owner: String
    let stopping = Atomic<Bool>(false)
    /// Messages claimed and not yet recorded.
    let running = Atomic<Int>(0)

    /// The most messages one claim takes.
    static let claimBatch = 256

    public init(database: Database, cipher: CredentialCipher, configuration: AppConfiguration.Outbound, concurrency: Int = 64,
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
        // Wakes coalesce: a claim after many deliveries ended is one claim.
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.pollInterval)
                        wake.yield()
                    }
                }
                // The dispatcher's `NOTIFY`: messages stored are sent without waiting for the poll.
                group.addTask { await self.database.listen(WebhookMessagesTable.channel, logger: self.logger) { _ in wake.yield() } }
                group.addTask { await recorder.run() }
                for await _ in wakes {
                    if stopping.load(ordering: .relaxed) {
                        if running.load(ordering: .relaxed) == 0 { break }
                        continue
                    }
                    let limit = min(Self.claimBatch, concurrency - running.load(ordering: .relaxed))
                    guard limit > 0 else { continue }
                    let claimed: [ClaimedWebhookMessage]
                    let endpoints: [UUID: WebhookEndpointRecord]
                    do {
                        claimed = try await WebhookMessagesTable.claimDue(
                            owner: owner, lease: configuration.timeout + .seconds(10), inFlight: gates.inFlight, maxInFlight: gates.maxInFlight,
                            limit: limit, database: database, logger: logger)
                        let ids = Array(Set(claimed.map(\.endpointId)))
                        endpoints = ids.isEmpty ? [:] : try await database.withConnection { db in
                            try await WebhookEndpointsTable.get(ids: ids, on: db, logger: logger)
                        }
                    } catch {
                        logger.warning("outbound: claiming messages failed", metadata: ["error": "\(String(reflecting: error))"])
                        continue
                    }
                    for message in claimed {
                        // The claim left room for each message; an endpoint deleted since took its messages with it.
                        guard let endpoint = endpoints[message.endpointId], let wait = gates.enter(endpoint.id, rateLimit: endpoint.rateLimit) else {
                            await handBack(message)
                            continue
                        }
                        running.add(1, ordering: .relaxed)
                        group.addTask {
                            await self.deliver(message, to: endpoint, after: wait, clients: clients, recorder: recorder)
                            self.running.subtract(1, ordering: .relaxed)
                            wake.yield()
                        }
                    }
                    // A full claim: more may be due at once.
                    if claimed.count == limit { wake.yield() }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            wake.yield()
        }
        await clients.shutdown()
    }

    func handBack(_ message: ClaimedWebhookMessage) async {
        do {
            try await database.withConnection { db in try await WebhookMessagesTable.release(id: message.id, owner: owner, on: db, logger: logger) }
        } catch {
            logger.debug("outbound: a message could not be handed back; its lease lapses", metadata: ["error": "\(error)"])
        }
    }

    /// One attempt: waits out the endpoint's rate limit, posts, frees the endpoint's slot as soon as the answer is in,
    /// then records it.
    func deliver(_ message: ClaimedWebhookMessage, to endpoint: WebhookEndpointRecord, after wait: Duration, clients: PinnedClients,
                 recorder: DeliveryRecorder) async {
        if wait > .zero { try? await Task.sleep(for: wait) }
        let attempt = await post(message, to: endpoint, clients: clients)
        gates.leave(endpoint.id)
        do {
            if let status = attempt.status, judge.judge(attempt: message.attempt, status: status, retryAfter: nil, random: 0) == .delivered {
                let delivered = WebhookMessagesTable.Delivered(id: message.id, statusCode: status, latency: attempt.latency, responseExcerpt: attempt.excerpt)
                guard try await recorder.record(delivered) else { return }
                Counter(label: "outbound_deliveries_total", dimensions: [("outcome", "delivered")], factory: metrics).increment()
                Timer(label: "outbound_delivery_seconds", factory: metrics).record(duration: attempt.latency)
            } else {
                try await record(message, endpoint: endpoint, attempt)
            }
        } catch {
            logger.warning("outbound: a delivery could not be recorded; its lease lapses and it is tried again",
                           metadata: ["message_id": "\(message.messageId)", "error": "\(String(reflecting: error))"])
        }
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
        request.body = .bytes(ByteBuffer(string: message.body))
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
