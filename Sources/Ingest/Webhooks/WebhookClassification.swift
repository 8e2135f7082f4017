import Crypto
import Foundation
import MarketplaceCore
import Storage

/// What a verified webhook body is and what it calls for. Pure: no I/O.
public struct WebhookClassification: Sendable, Equatable {
    public var event: InboxEvent
    public var job: NewJob?
    public var syncFailure: SyncFailureRecord?
    /// A successful sync webhook saying Nango's run started from scratch (`checkpoints.from: null`): records Nango
    /// dropped before it never arrive as DELETED, so the model we hold needs a full re-read. The inbox marks it on
    /// the model's sync state in the transaction that stores the webhook.
    public var nangoStartedOver = false
    /// Nango added a type we do not know: stored, answered 200, no job, counted.
    public var isUnknownType: Bool

    /// A body that is not JSON, or a known type missing a required field.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static let knownTypes: Set<String> = ["auth", "sync", "forward", "async_action"]

    public static func classify(body: [UInt8]) throws(Invalid) -> WebhookClassification {
        let json: JSONValue
        do {
            json = try JSONValue.parse(body)
        } catch {
            throw Invalid(message: "body is not valid JSON (\(error))")
        }
        let raw = String(decoding: body, as: UTF8.self)
        var event = InboxEvent(type: "forward", dedupeKey: dedupeKey(body), rawBody: raw)
        // Nango forwards the provider's raw payload, unwrapped, when it found no connection (docs/nango.md §1.7).
        // That payload may carry a `type` of its own (Slack's `event_callback`, Stripe's `invoice.paid`): only
        // a body from Nango itself, or Nango's forward wrapper, has a Nango type.
        guard case .object = json, let type = json["type"]?.string, json["from"]?.string == "nango" || type == "forward" else {
            return WebhookClassification(
                event: event, job: ForwardJob(nil).newJob(), syncFailure: nil, isUnknownType: false)
        }
        event.type = type
        event.connectionId = json["connectionId"]?.string
        event.integrationId = json["providerConfigKey"]?.string
        var result = WebhookClassification(event: event, job: nil, syncFailure: nil, isUnknownType: false)
        switch type {
        case "auth":
            try require(json, ["connectionId", "providerConfigKey", "operation"], strings: true, type: type)
            try requireBool(json, "success", type: type)
            result.event.operation = json["operation"]?.string
            result.event.success = json["success"] == true
            result.event.provider = json["provider"]?.string
            result.job = authJob(json, event: result.event)
        case "sync":
            try require(json, ["connectionId", "providerConfigKey", "syncName", "model"], strings: true, type: type)
            try requireBool(json, "success", type: type)
            result.event.model = json["model"]?.string
            result.event.syncName = json["syncName"]?.string
            result.event.success = json["success"] == true
            if result.event.success == true {
                result.job = SyncJob(result.event.identity!, model: result.event.model!, reason: "sync webhook").newJob()
                result.nangoStartedOver = nangoStartedOver(json)
            } else {
                // Nango lists every model of the failed sync, comma-joined.
                let models = (result.event.model ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
                result.syncFailure = SyncFailureRecord(
                    result.event.identity!, models: models,
                    error: json["error"]?["description"]?.string ?? json["error"]?["type"]?.string ?? "sync failed")
            }
        case "forward":
            try require(json, ["connectionId", "providerConfigKey"], strings: true, type: type)
            result.event.provider = json["from"]?.string
            result.job = ForwardJob(result.event.identity!).newJob()
        case "async_action":
            break   // known, stored for audit; the service triggers no async actions
        default:
            result.isUnknownType = true
        }
        if let field = result.fieldWithNUL {
            throw Invalid(message: "\(type) webhook: '\(field)' contains a NUL character (\\u0000), which Postgres cannot store")
        }
        return result
    }

    /// The first stored field holding U+0000: Postgres' `text` and `jsonb` refuse it, and one such event
    /// must be refused here with a clear 400, not by the database in the middle of a batch.
    var fieldWithNUL: String? {
        let event = self.event
        let fields: [(String, String?)] = [
            ("type", event.type), ("operation", event.operation), ("connectionId", event.connectionId),
            ("providerConfigKey", event.integrationId), ("provider", event.provider), ("model", event.model),
            ("syncName", event.syncName), ("error", syncFailure?.error),
        ]
        func hasNUL(_ text: String) -> Bool { text.utf8.contains(0) }
        if let (name, _) = fields.first(where: { $0.1.map(hasNUL) == true }) { return name }
        func hasNUL(_ value: JSONValue) -> Bool {
            switch value {
            case .string(let text): hasNUL(text)
            case .array(let values): values.contains(where: hasNUL)
            case .object(let object): object.contains { hasNUL($0.key) || hasNUL($0.value) }
            default: false
            }
        }
        return job.flatMap { job in job.payload.first { hasNUL($0.value) }?.key }
    }

    /// The start of a run Nango began from scratch, when a success webhook says so: `checkpoints` sent with
    /// `from: null` (docs/nango.md §1.6, §2.4). A webhook without `checkpoints` is not one: syncs that keep no checkpoints
    /// never send them, and re-reading every record after every run is no option. `syncType: INITIAL` is not one
    /// either: it marks a sync's very first run, which our own first read already covers.
    static func nangoStartedOver(_ json: JSONValue) -> Bool {
        guard case .object(let checkpoints)? = json["checkpoints"] else { return false }
        return checkpoints["from"] == .null
    }

    static func authJob(_ json: JSONValue, event: InboxEvent) -> NewJob? {
        let identity = event.identity!
        switch (event.operation, event.success) {
        case ("creation", true), ("override", true):
            return ConnectionJob(.upsert, identity).newJob()
        case ("refresh", false):
            return ConnectionJob(.refreshFailed, identity, error: json["error"]).newJob()
        case ("deletion", _):
            // Nango sends no deletion webhook today (docs/nango.md §2.7); accept one should it appear.
            return ConnectionJob(.disconnected, identity).newJob()
        default:
            return nil   // a failed creation or override changes nothing of ours
        }
    }

    static func require(_ json: JSONValue, _ fields: [String], strings: Bool, type: String) throws(Invalid) {
        for field in fields {
            guard let value = json[field]?.string, !value.isEmpty else {
                throw Invalid(message: "\(type) webhook: '\(field)' is required and must be a non-empty string")
            }
        }
    }

    static func requireBool(_ json: JSONValue, _ field: String, type: String) throws(Invalid) {
        guard case .bool = json[field] else {
            throw Invalid(message: "\(type) webhook: '\(field)' is required and must be a boolean")
        }
    }

    /// `sha256:<hex of the raw body>`. Nango serialises a body once and resends the same bytes on retry,
    /// and sends no delivery id: identical bytes are the same delivery.
    public static func dedupeKey(_ body: [UInt8]) -> String {
        "sha256:" + Hex.encode(SHA256.hash(data: body))
    }
}
