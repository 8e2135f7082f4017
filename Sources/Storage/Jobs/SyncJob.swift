import Foundation
import MarketplaceCore

/// `sync.run`: read one (integration, connection, model) from Nango's change stream through every pipeline
/// that subscribes to it.
public struct SyncJob: JobContract {
    public static let kind = "sync.run"
    public static var kinds: [String] { [kind] }

    public var identity: ConnectionIdentity
    public var model: String
    /// Why it was queued (a webhook, reconciliation, an API request …): shown to ops, never branched on.
    public var reason: String

    public init(_ identity: ConnectionIdentity, model: String, reason: String) {
        self.identity = identity
        self.model = model
        self.reason = reason
    }

    public var kind: String { Self.kind }
    public var concurrencyKey: String? { "sync:\(identity.integrationId):\(identity.connectionId):\(model)" }

    public var payload: [String: JSONValue] {
        identity.payloadFields.merging(["model": .string(model), "reason": .string(reason)]) { $1 }
    }

    public init(kind: String, payload: [String: JSONValue]) throws(JobPayloadError) {
        self.identity = try Self.identity(payload, kind: kind)
        self.model = try Self.string(payload, "model", kind: kind)
        self.reason = payload["reason"]?.string ?? ""
    }
}
