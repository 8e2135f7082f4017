import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MarketplaceCore

/// `POST /webhooks/nango`: raw bytes in, stored (or refused) before the answer goes out.
struct WebhookController: Sendable {
    typealias Context = AppRequestContext
    static var path: String { "/webhooks/nango" }

    let intake: WebhookIntake
    /// Nango never retries a 413: every refusal is counted and logged, with its size and claimed integration.
    let bodyLimit: Int
    let metrics: any MetricsFactory
    /// Per client address, deliveries that fail verification: past the limit they get 429 instead of 401. A validly
    /// signed webhook is never limited (Nango drops a webhook for good on any 4xx, 429 included).
    let failures: LocalRateLimiter
    /// Bytes of bodies being read, all connections together: bodies are read whole before their signature can be
    /// checked, so without it many slow senders of large bodies could grow memory without limit.
    let reading: ByteBudget

    func register(on router: Router<Context>) {
        router.post(RouterPath(Self.path)) { request, context -> Response in
            let body: [UInt8]
            var held = HeldBytes(budget: reading)
            defer { held.releaseAll() }
            let collected: OversizedWebhook.Collected
            do {
                collected = try await OversizedWebhook.collect(request.body, limit: bodyLimit, holding: &held)
            } catch is ReadBudgetExhausted {
                Counter(label: "webhooks_refused_busy_total", factory: metrics).increment()
                context.logger.warning("webhook refused while others' bodies fill the read budget: Nango retries it", metadata: [
                    "read_budget_bytes": "\(reading.capacity)",
                ])
                throw APIError(.serviceUnavailable, code: "unavailable", message: "too many webhook bodies in flight, retry later",
                               headers: [.retryAfter: "1"])
            }
            switch collected {
            case .complete(let bytes):
                body = bytes
            case .tooLarge(let oversized):
                Counter(label: "webhooks_too_large_total", factory: metrics).increment()
                context.logger.error("webhook over the body limit refused: Nango will not resend it", metadata: [
                    "bytes": "\(oversized.size)", "limit": "\(bodyLimit)",
                    "integration": "\(oversized.claimedIntegration ?? "unknown")",
                ])
                throw APIError.payloadTooLarge(limit: bodyLimit)
            }
            let outcome: WebhookIntake.Outcome
            do {
                outcome = try await intake.receive(
                    body: body, hmacHeader: request.headers[.nangoHmac], legacyHeader: request.headers[.nangoSignature],
                    logger: context.logger)
            } catch let failure as WebhookIntake.Failure where failure == .signatureMissing || failure == .signatureInvalid {
                let decision = failures.check("ip:" + context.clientAddress)
                if !decision.allowed { throw decision.refusal(group: "webhook_failures") }
                throw failure   // answered 401 where every error is mapped
            }
            let status: String
            switch outcome {
            case .stored: status = "stored"
            case .duplicate: status = "duplicate"
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"\#(status)"}"#)))
        }
    }
}

/// A webhook body read up to the limit; past it, read on (kept: only its start and end) so the refusal can
/// say how big it was and which integration it claims (`providerConfigKey` sorts after `payload`, at the end).
enum OversizedWebhook {
    struct Refused: Sendable, Equatable {
        var size: Int
        var claimedIntegration: String?
    }

    enum Collected: Sendable, Equatable {
        case complete([UInt8])
        case tooLarge(Refused)
    }

    /// Past this much the rest is not read: the connection is closed with the 413.
    static let drainCeiling = 512 << 20
    static let edge = 4096

    static func collect(_ body: RequestBody, limit: Int, holding held: inout HeldBytes) async throws -> Collected {
        var bytes: [UInt8] = []
        var size = 0
        var tail: [UInt8] = []
        for try await chunk in body {
            size += chunk.readableBytes
            if size <= limit {
                try held.hold(chunk.readableBytes)
                bytes.append(contentsOf: chunk.readableBytesView)
                continue
            }
            if bytes.count > edge { bytes.removeSubrange(edge...) }
            tail.append(contentsOf: chunk.readableBytesView)
            if tail.count > edge { tail.removeFirst(tail.count - edge) }
            if size > drainCeiling { break }
        }
        guard size > limit else { return .complete(bytes) }
        return .tooLarge(Refused(size: size, claimedIntegration: claimedIntegration(in: tail) ?? claimedIntegration(in: bytes)))
    }

    /// The `providerConfigKey` a fragment of JSON names, if it names a plausible one.
    static func claimedIntegration(in fragment: [UInt8]) -> String? {
        let text = String(decoding: fragment, as: UTF8.self)
        guard let key = text.range(of: #""providerConfigKey":""#, options: .backwards) else { return nil }
        let value = text[key.upperBound...].prefix { $0 != "\"" }
        guard !value.isEmpty, value.count <= 128, value.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else { return nil }
        return String(value)
    }
}

struct ReadBudgetExhausted: Error {}

/// One request's share of the read budget: what it holds, given back in one go when the request ends.
struct HeldBytes {
    let budget: ByteBudget
    private(set) var held = 0

    init(budget: ByteBudget) {
        self.budget = budget
    }

    mutating func hold(_ bytes: Int) throws(ReadBudgetExhausted) {
        guard budget.reserve(bytes) != nil else { throw ReadBudgetExhausted() }
        held += bytes
    }

    mutating func releaseAll() {
        budget.release(held)
        held = 0
    }
}

extension HTTPField.Name {
    static let nangoHmac = Self("X-Nango-Hmac-Sha256")!
    static let nangoSignature = Self("X-Nango-Signature")!
}
