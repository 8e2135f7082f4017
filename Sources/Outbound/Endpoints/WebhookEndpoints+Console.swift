import Foundation
import Logging
import Storage

/// What the ops console reads and does beyond the admin API: success per hour, the newest attempts, the secret masked,
/// a resend checked against the endpoint it was asked on, and the signature its live pages follow.
extension WebhookEndpoints {
    /// The secret as every page but the rotation's shows it: its prefix and last four characters.
    public func maskedSecret(_ endpoint: WebhookEndpointRecord) -> String {
        (try? cipher.open(endpoint.secretSealed)).map(WebhookSigner.masked) ?? WebhookSigner.prefix + "…"
    }

    /// The start of the first of the `hours` whole UTC hours up to and including the one `now` is in.
    public static func firstHour(of hours: Int, now: Date) -> Date {
        Date(timeIntervalSince1970: ((now.timeIntervalSince1970 / 3600).rounded(.down) - Double(hours - 1)) * 3600)
    }

    /// Attempts per endpoint and hour over the `hours` whole UTC hours up to and including the one `now` is in, oldest
    /// first, hours without an attempt counted 0; one endpoint's or every one's. An endpoint without any attempt in
    /// that time is absent.
    public func attemptsByHour(endpointId: UUID?, hours: Int = 24, now: Date, logger: Logger) async throws -> [UUID: [WebhookAttemptHour]] {
        let start = Self.firstHour(of: hours, now: now)
        let first = Int64((start.timeIntervalSince1970 / 3600).rounded(.down))
        let counted = try await database.withConnection { db in
            try await WebhookMessagesTable.attemptHours(since: start, endpointId: endpointId, on: db, logger: logger)
        }
        var series: [UUID: [WebhookAttemptHour]] = [:]
        for entry in counted {
            let index = Int(entry.hour - first)
            guard (0..<hours).contains(index) else { continue }
            if series[entry.endpointId] == nil {
                series[entry.endpointId] = (0..<hours).map {
                    WebhookAttemptHour(endpointId: entry.endpointId, hour: first + Int64($0), attempts: 0, succeeded: 0)
                }
            }
            series[entry.endpointId]![index] = entry
        }
        return series
    }

    /// The newest attempts, newest first, with their messages: one endpoint's (those since `since`) or every one's.
    public func latestAttempts(endpointId: UUID?, since: Date?, limit: Int, logger: Logger) async throws -> [WebhookAttemptListing] {
        try await database.withConnection { db in
            try await WebhookMessagesTable.latestAttempts(endpointId: endpointId, since: since, limit: limit, on: db, logger: logger)
        }
    }

    /// `resend`, of a message of this endpoint only: a message id from another endpoint's page is not found here.
    public func resend(messageId: String, of endpointId: UUID, logger: Logger) async throws {
        let message = try await database.withConnection { db in try await WebhookMessagesTable.get(messageId: messageId, on: db, logger: logger) }
        guard message?.endpointId == endpointId else { throw WebhookEndpointError.notFound }
        try await resend(messageId: messageId, logger: logger)
    }

    /// Changes when a message is made or tried, or an endpoint is created, changed or deleted.
    public func changeSignature(logger: Logger) async throws -> String {
        try await database.withConnection { db in
            let messages = try await WebhookMessagesTable.lastChange(on: db, logger: logger)
            let endpoints = try await WebhookEndpointsTable.lastChange(on: db, logger: logger)
            return "\(messages).\(endpoints)"
        }
    }
}
