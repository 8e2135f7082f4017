import MarketplaceCore

/// A job to enqueue.
public struct NewJob: Sendable, Equatable {
    public var kind: String
    public var payload: [String: JSONValue]
    public var concurrencyKey: String?
    public var maxAttempts: Int
    /// Jobs with a waiting key wait at most one to a key: another of the same key, queued while one waits, is that
    /// one (its payload merged in). Nil for jobs whose every occurrence must run in order.
    public var waitingKey: String?

    public init(kind: String, payload: [String: JSONValue], concurrencyKey: String? = nil, maxAttempts: Int = 8, mergesWhileQueued: Bool = true) {
        self.kind = kind
        self.payload = payload
        self.concurrencyKey = concurrencyKey
        self.maxAttempts = maxAttempts
        self.waitingKey = mergesWhileQueued ? concurrencyKey.map { "\(kind)|\($0)" } : nil
    }
}
