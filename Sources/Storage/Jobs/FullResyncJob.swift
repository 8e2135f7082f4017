import MarketplaceCore

/// `sync.full_resync`: read one (integration, connection, model)'s whole stream again, with a cursor of its
/// own, through every pipeline that reads it, then soft-delete the rows Nango no longer holds.
public struct FullResyncJob: JobContract {
    public static let kind = "sync.full_resync"
    public static var kinds: [String] { [kind] }

    public var identity: ConnectionIdentity
    public var model: String
    /// Why it was queued (ops, the schedule, Nango starting over): shown to ops, never branched on.
    public var reason: String

    public init(_ identity: ConnectionIdentity, model: String, reason: String) {
        self.identity = identity
        self.model = model
        self.reason = reason
    }

    public var kind: String { Self.kind }
    public var concurrencyKey: String? { "full_resync:\(identity.integrationId):\(identity.connectionId):\(model)" }

    public var payload: [String: JSONValue] {
        identity.payloadFields.merging(["model": .string(model), "reason": .string(reason)]) { $1 }
    }

    public init(kind: String, payload: [String: JSONValue]) throws(JobPayloadError) {
        self.identity = try Self.identity(payload, kind: kind)
        self.model = try Self.string(payload, "model", kind: kind)
        self.reason = payload["reason"]?.string ?? ""
    }
}
