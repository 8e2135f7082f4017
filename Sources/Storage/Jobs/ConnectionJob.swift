import MarketplaceCore

/// The `connection.*` jobs: what happened to a Nango connection, one company's jobs queued one at a time.
public struct ConnectionJob: JobContract {
    public enum Operation: String, Sendable, CaseIterable {
        /// Created or re-authorized (Nango's auth webhook, `override` included): store the company, then sync it.
        case upsert = "connection.upsert"
        /// Scheduled: re-fetch a connection whose token expires soon (Nango refreshes it on read).
        case refresh = "connection.refresh"
        /// Nango could not refresh the provider's token.
        case refreshFailed = "connection.refresh_failed"
        /// The connection was deleted at Nango.
        case disconnected = "connection.disconnected"
    }

    public static var kinds: [String] { Operation.allCases.map(\.rawValue) }

    public var operation: Operation
    public var identity: ConnectionIdentity
    /// Nango's error object of a failed refresh, kept as the company's status reason.
    public var error: JSONValue?

    public init(_ operation: Operation, _ identity: ConnectionIdentity, error: JSONValue? = nil) {
        self.operation = operation
        self.identity = identity
        self.error = error
    }

    public var kind: String { operation.rawValue }
    public var concurrencyKey: String? { "connection:\(identity.integrationId):\(identity.connectionId)" }
    /// A company's life (created, failed, disconnected, reconnected) is applied event by event, in order; only the
    /// scheduled refresh is the same job however often it is asked for.
    public var mergesWhileQueued: Bool { operation == .refresh }

    public var payload: [String: JSONValue] {
        var payload = identity.payloadFields
        if let error, error != .null { payload["error"] = error }
        return payload
    }

    public init(kind: String, payload: [String: JSONValue]) throws(JobPayloadError) {
        guard let operation = Operation(rawValue: kind) else { throw JobPayloadError(kind: kind, field: "kind") }
        self.operation = operation
        self.identity = try Self.identity(payload, kind: kind)
        self.error = payload["error"].flatMap { $0 == .null ? nil : $0 }
    }
}
