import MarketplaceCore

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
