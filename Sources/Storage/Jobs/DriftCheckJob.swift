import MarketplaceCore

/// `drift.check`: compare Nango's record count of one (integration, connection, model) with what we hold
/// (docs/drift.md); queued after each complete read, on the schedule and by ops.
public struct DriftCheckJob: JobContract {
    public static let kind = "drift.check"
    public static var kinds: [String] { [kind] }

    public var identity: ConnectionIdentity
    public var model: String

    public init(_ identity: ConnectionIdentity, model: String) {
        self.identity = identity
        self.model = model
    }

    public var kind: String { Self.kind }
    public var concurrencyKey: String? { "drift:\(identity.integrationId):\(identity.connectionId):\(model)" }

    public var payload: [String: JSONValue] {
        identity.payloadFields.merging(["model": .string(model)]) { $1 }
    }

    public init(kind: String, payload: [String: JSONValue]) throws(JobPayloadError) {
        self.identity = try Self.identity(payload, kind: kind)
        self.model = try Self.string(payload, "model", kind: kind)
    }
}
