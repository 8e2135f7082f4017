import MarketplaceCore

/// A webhook as the inbox stores it.
public struct InboxEvent: Sendable, Equatable {
    public var type: String
    public var operation: String?
    public var success: Bool?
    public var connectionId: String?
    public var integrationId: String?
    public var provider: String?
    public var model: String?
    public var syncName: String?
    public var dedupeKey: String
    public var rawBody: String

    public init(type: String, dedupeKey: String, rawBody: String) {
        self.type = type
        self.dedupeKey = dedupeKey
        self.rawBody = rawBody
    }

    /// The company the event is about, when it names both halves of the pair.
    public var identity: ConnectionIdentity? {
        guard let integrationId, let connectionId else { return nil }
        return ConnectionIdentity(integrationId: integrationId, connectionId: connectionId)
    }
}

/// Nango reported a failed sync run: kept on each model's sync state.
public struct SyncFailureRecord: Sendable, Equatable {
    public var identity: ConnectionIdentity
    public var models: [String]
    public var error: String

    public init(_ identity: ConnectionIdentity, models: [String], error: String) {
        self.identity = identity
        self.models = models
        self.error = error
    }
}
