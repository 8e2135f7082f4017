import MarketplaceCore

/// `forward.received`: a provider webhook Nango forwarded. With the connection Nango matched it to, the
/// company's models sync; without one (Nango found none) it is kept in the inbox for ops.
public struct ForwardJob: JobContract {
    public static let kind = "forward.received"
    public static var kinds: [String] { [kind] }

    public var identity: ConnectionIdentity?

    public init(_ identity: ConnectionIdentity?) {
        self.identity = identity
    }

    public var kind: String { Self.kind }
    /// Forwards only queue syncs, which carry keys of their own.
    public var concurrencyKey: String? { nil }
    public var payload: [String: JSONValue] { identity?.payloadFields ?? ["unmatched": true] }

    public init(kind: String, payload: [String: JSONValue]) throws(JobPayloadError) {
        self.identity = payload["unmatched"] == true ? nil : try Self.identity(payload, kind: kind)
    }
}
