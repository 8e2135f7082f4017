import Foundation
import Logging
import Storage

/// Why an endpoint request is refused.
public enum WebhookEndpointError: Error, Sendable, Equatable {
    /// A field is malformed: 400 naming it.
    case invalid(field: String, reason: String)
    case notFound
}

/// The admin API's use cases for endpoints and their messages: create (the secret shown once), change, rotate, send a
/// test, resend, recover.
public struct WebhookEndpoints: Sendable {
    let database: Database
    let cipher: CredentialCipher
    let policy: EndpointURLPolicy
    let secretOverlap: Duration

    public init(database: Database, cipher: CredentialCipher, policy: EndpointURLPolicy, secretOverlap: Duration) {
        self.database = database
        self.cipher = cipher
        self.policy = policy
        self.secretOverlap = secretOverlap
    }

    func checkURL(_ url: String) async throws(WebhookEndpointError) {
        do {
            try await policy.check(url)
        } catch {
            throw .invalid(field: "url", reason: error.reason)
        }
    }

    static func checkTypes(_ types: [String]?) throws(WebhookEndpointError) {
        guard let types else { return }
        guard !types.isEmpty else { throw .invalid(field: "event_types", reason: "must list at least one type, or be left out for every type") }
        if let unknown = types.first(where: { !OutboundEventType.all.contains($0) }) {
            throw .invalid(field: "event_types", reason: "'\(unknown)' is not a type (known: \(OutboundEventType.all.joined(separator: ", ")))")
        }
    }

    /// A new endpoint and its secret (shown this once).
    public func create(url: String, eventTypes: [String]?, companyId: UUID?, description: String?, rateLimit: Int?,
                       logger: Logger) async throws -> (endpoint: WebhookEndpointRecord, secret: String) {
        do {
            _ = try policy.checkForm(url)
        } catch {
            throw WebhookEndpointError.invalid(field: "url", reason: error.reason)
        }
        try Self.checkTypes(eventTypes)
        if let rateLimit, !(1...100_000).contains(rateLimit) { throw WebhookEndpointError.invalid(field: "rate_limit", reason: "must be 1 to 100000 messages a second") }
        try await checkURL(url)
        let secret = WebhookSigner.newSecret()
        let sealed = try cipher.seal(secret)
        let endpoint = try await database.withConnection { db -> WebhookEndpointRecord in
            if let companyId, try await ResourceReadTable.company(id: companyId, on: db, logger: logger) == nil {
                throw WebhookEndpointError.invalid(field: "company_id", reason: "names no company")
            }
            return try await WebhookEndpointsTable.create(url: url, description: description, eventTypes: eventTypes, companyId: companyId,
                                                          rateLimit: rateLimit, secretSealed: sealed, on: db, logger: logger)
        }
        return (endpoint, secret)
    }

    public func list(after: UUID?, limit: Int, logger: Logger) async throws -> [WebhookEndpointRecord] {
        try await database.withConnection { db in try await WebhookEndpointsTable.list(after: after, limit: limit, on: db, logger: logger) }
    }

    public func get(_ id: UUID, logger: Logger) async throws -> WebhookEndpointRecord {
        guard let endpoint = try await database.withConnection({ db in try await WebhookEndpointsTable.get(id: id, on: db, logger: logger) }) else {
            throw WebhookEndpointError.notFound
        }
        return endpoint
    }

    /// Messages waiting to be sent, every endpoint together.
    public func pendingCount(logger: Logger) async throws -> Int {
        try await database.withConnection { db in try await WebhookMessagesTable.pendingCount(on: db, logger: logger) }
    }

    /// The messages pending and failed per endpoint.
    public func counts(logger: Logger) async throws -> [UUID: (pending: Int, failed: Int)] {
        try await database.withConnection { db in try await WebhookMessagesTable.countsByEndpoint(on: db, logger: logger) }
    }

    public func update(_ id: UUID, _ change: WebhookEndpointChange, logger: Logger) async throws -> WebhookEndpointRecord {
        if let url = change.url { try await checkURL(url) }
        if let types = change.eventTypes { try Self.checkTypes(types) }
        guard let endpoint = try await database.withTransaction(logger: logger, { db -> WebhookEndpointRecord? in
            let updated = try await WebhookEndpointsTable.update(id: id, change, on: db, logger: logger)
            if change.status == .disabled {
                try await WebhookMessagesTable.failPending(endpointId: id, reason: "the endpoint was disabled", on: db, logger: logger)
            }
            return updated
        }) else { throw WebhookEndpointError.notFound }
        return endpoint
    }

    public func delete(_ id: UUID, logger: Logger) async throws {
        guard try await database.withConnection({ db in try await WebhookEndpointsTable.delete(id: id, on: db, logger: logger) }) else {
            throw WebhookEndpointError.notFound
        }
    }

    /// A new secret (shown this once); the old one keeps signing for the overlap.
    public func rotate(_ id: UUID, logger: Logger) async throws -> String {
        let secret = WebhookSigner.newSecret()
        let sealed = try cipher.seal(secret)
        let until = Date().addingTimeInterval(Double(secretOverlap.components.seconds))
        guard try await database.withConnection({ db in
            try await WebhookEndpointsTable.rotate(id: id, secretSealed: sealed, overlapUntil: until, on: db, logger: logger)
        }) else { throw WebhookEndpointError.notFound }
        return secret
    }

    /// A `webhook.test` message, due now; its id.
    public func sendTest(_ id: UUID, logger: Logger) async throws -> String {
        let endpoint = try await get(id, logger: logger)
        let messageId = WebhookSigner.newMessageId()
        let timestamp = ISO8601DateFormatter().string(from: Date())
        let body = #"{"type":"webhook.test","timestamp":"\#(timestamp)","data":{"endpoint_id":"\#(endpoint.id.uuidString.lowercased())"}}"#
        try await database.withConnection { db in
            try await WebhookMessagesTable.insert([NewWebhookMessage(
                messageId: messageId, endpointId: endpoint.id, eventType: OutboundEventType.test, companyId: nil, stream: "test", body: body,
                status: endpoint.status == .enabled ? .pending : .failed,
                lastError: endpoint.status == .enabled ? nil : "the endpoint was disabled")], on: db, logger: logger)
        }
        return messageId
    }

    public func messages(_ id: UUID, status: WebhookMessageStatus?, before: Int64?, limit: Int, logger: Logger) async throws -> [WebhookMessageRecord] {
        _ = try await get(id, logger: logger)
        return try await database.withConnection { db in
            try await WebhookMessagesTable.list(endpointId: id, status: status, before: before, limit: limit, on: db, logger: logger)
        }
    }

    public func attempts(messageId: String, logger: Logger) async throws -> [WebhookAttemptRecord] {
        try await database.withConnection { db in
            guard try await WebhookMessagesTable.get(messageId: messageId, on: db, logger: logger) != nil else { throw WebhookEndpointError.notFound }
            return try await WebhookMessagesTable.attempts(messageId: messageId, on: db, logger: logger)
        }
    }

    public func resend(messageId: String, logger: Logger) async throws {
        guard try await database.withConnection({ db in try await WebhookMessagesTable.resend(messageId: messageId, on: db, logger: logger) }) else {
            throw WebhookEndpointError.notFound
        }
    }

    /// Every failed message since `since` sent again; how many.
    public func recover(_ id: UUID, since: Date, logger: Logger) async throws -> Int {
        _ = try await get(id, logger: logger)
        return try await database.withConnection { db in try await WebhookMessagesTable.recover(endpointId: id, since: since, on: db, logger: logger) }
    }
}
