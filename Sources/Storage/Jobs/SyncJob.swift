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
    /// When Nango's sync webhook says its run started from scratch (`checkpoints.from: null`), that run's start
    /// (`modifiedAfter`): records Nango dropped before it never arrive as DELETED.
    public var nangoStartedOverAt: Date?

    public init(_ identity: ConnectionIdentity, model: String, reason: String, nangoStartedOverAt: Date? = nil) {
        self.identity = identity
        self.model = model
        self.reason = reason
        self.nangoStartedOverAt = nangoStartedOverAt
    }

    public var kind: String { Self.kind }
    public var concurrencyKey: String? { "sync:\(identity.integrationId):\(identity.connectionId):\(model)" }

    public var payload: [String: JSONValue] {
        var fields = identity.payloadFields.merging(["model": .string(model), "reason": .string(reason)]) { $1 }
        if let nangoStartedOverAt { fields["nango_started_over_at"] = .number(nangoStartedOverAt.timeIntervalSince1970) }
        return fields
    }

    public init(kind: String, payload: [String: JSONValue]) throws(JobPayloadError) {
        self.identity = try Self.identity(payload, kind: kind)
        self.model = try Self.string(payload, "model", kind: kind)
        self.reason = payload["reason"]?.string ?? ""
        if case .number(let seconds)? = payload["nango_started_over_at"] {
            self.nangoStartedOverAt = Date(timeIntervalSince1970: seconds)
        } else {
            self.nangoStartedOverAt = nil
        }
    }
}
