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
}

/// A job to enqueue.
public struct NewJob: Sendable, Equatable {
    public var kind: String
    public var payload: [String: JSONValue]
    public var concurrencyKey: String?
    public var maxAttempts: Int

    public init(kind: String, payload: [String: JSONValue], concurrencyKey: String? = nil, maxAttempts: Int = 8) {
        self.kind = kind
        self.payload = payload
        self.concurrencyKey = concurrencyKey
        self.maxAttempts = maxAttempts
    }
}

/// Nango reported a failed sync run: kept on each model's sync state.
public struct SyncFailureRecord: Sendable, Equatable {
    public var connectionId: String
    public var integrationId: String
    public var models: [String]
    public var error: String

    public init(connectionId: String, integrationId: String, models: [String], error: String) {
        self.connectionId = connectionId
        self.integrationId = integrationId
        self.models = models
        self.error = error
    }
}

/// Job kinds: Ingest and the scheduler enqueue them, the pipeline's workers run them.
public enum JobKind {
    public static let connectionUpsert = "connection.upsert"
    /// Scheduled: re-fetch a connection whose token expires soon (Nango refreshes it on read).
    public static let connectionRefresh = "connection.refresh"
    public static let connectionRefreshFailed = "connection.refresh_failed"
    public static let connectionDisconnected = "connection.disconnected"
    public static let sync = "sync.run"
    public static let forward = "forward.received"
}
