import Foundation
import MarketplaceCore

/// A job a worker holds the lease of.
public struct ClaimedJob: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var payload: [String: JSONValue]
    public var attempts: Int
    public var maxAttempts: Int
    public var concurrencyKey: String?
    public var eventId: Int64?

    public init(id: Int64, kind: String, payload: [String: JSONValue], attempts: Int, maxAttempts: Int, concurrencyKey: String?, eventId: Int64?) {
        self.id = id
        self.kind = kind
        self.payload = payload
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.concurrencyKey = concurrencyKey
        self.eventId = eventId
    }
}

/// A row of `jobs` as the admin API shows it.
public struct JobRecord: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var status: String
    public var attempts: Int
    public var maxAttempts: Int
    public var runAt: Date
    public var lastError: String?
    public var concurrencyKey: String?
}
