import CoreMetrics
import Logging
import MarketplaceCore
import PostgresNIO
import Storage

/// Takes a webhook from raw bytes to a committed inbox row (and its job) — verify, classify, store —
/// and says what happened. Nothing here calls Nango or runs pipeline work: the job table is the seam.
public struct WebhookIntake: Sendable {
    public enum Outcome: Sendable, Equatable {
        case stored(eventID: Int64, jobID: Int64?)
        case duplicate
    }

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case signatureMissing
        case signatureInvalid
        case invalidPayload(String)
        /// Postgres did not commit within the bound: Nango retries on 5xx.
        case unavailable

        public var description: String {
            switch self {
            case .signatureMissing: "webhook signature missing"
            case .signatureInvalid: "webhook signature invalid"
            case .invalidPayload(let message): message
            case .unavailable: "inbox unavailable"
            }
        }
    }

    let inbox: InboxWriter
    let signature: WebhookSignatureCheck
    let storeTimeout: Duration
    let metrics: any MetricsFactory
    let logger: Logger
    let received: CounterFamily
    let validSignatures: CounterFamily

    public init(inbox: InboxWriter, signature: WebhookSignatureCheck, storeTimeout: Duration, metrics: any MetricsFactory, logger: Logger) {
        self.inbox = inbox
        self.signature = signature
        self.storeTimeout = storeTimeout
        self.metrics = metrics
        self.logger = logger
        self.received = CounterFamily(label: "webhooks_received_total", dimensions: ["type", "outcome"], factory: metrics)
        self.validSignatures = CounterFamily(label: "webhook_signatures_valid_total", dimensions: ["scheme", "key"], factory: metrics)
    }

    public func receive(body: [UInt8], hmacHeader: String?, legacyHeader: String?, logger: Logger) async throws(Failure) -> Outcome {
        switch signature.check(hmacHeader: hmacHeader, legacyHeader: legacyHeader, body: body) {
        case .valid(let scheme, let key):
            validSignatures.increment(scheme, key.rawValue)
            if key == .previous { logger.notice("webhook signed with the previous signing key", metadata: ["scheme": "\(scheme)"]) }
        case .missing:
            count("unknown", "rejected_signature")
            logger.warning("webhook without signature refused", metadata: ["bytes": "\(body.count)"])
            throw .signatureMissing
        case .invalid(let scheme):
            count("unknown", "rejected_signature")
            logger.warning("webhook with a wrong signature refused", metadata: ["scheme": "\(scheme)", "bytes": "\(body.count)"])
            throw .signatureInvalid
        }
        let classification: WebhookClassification
        do {
            classification = try WebhookClassification.classify(body: body)
        } catch {
            count("unknown", "invalid")
            logger.warning("invalid webhook refused", metadata: ["reason": "\(error.message)"])
            throw .invalidPayload(error.message)
        }
        let type = classification.event.type
        if classification.isUnknownType {
            Counter(label: "webhooks_unknown_type_total", dimensions: [("type", type)], factory: metrics).increment()
            logger.notice("webhook of an unknown type stored", metadata: ["type": "\(type)"])
        }
        do {
            let outcome = try await inbox.store(classification, timeout: storeTimeout)
            count(type, outcome == .duplicate ? "duplicate" : "stored")
            return outcome
        } catch {
            count(type, "unavailable")
            logger.error("webhook not stored", metadata: ["type": "\(type)", "error": "\(String(reflecting: error))"])
            throw .unavailable
        }
    }

    private func count(_ type: String, _ outcome: String) {
        let known = WebhookClassification.knownTypes.contains(type) ? type : "other"
        received.increment(known, outcome)
    }
}
