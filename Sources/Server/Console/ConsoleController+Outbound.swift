import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MarketplaceCore
import Outbound
import Pipeline
import Storage

/// The outbound pages: every endpoint with its share of attempts answered 2xx per hour and its pending and failed
/// messages, then the newest attempts; one endpoint with its actions, its last day of attempts and its failed messages;
/// and the page that shows a rotated secret, once.
extension ConsoleController {
    struct EndpointRow {
        let id: String
        let url: String
        let description: String?
        let status: String
        let enabled: Bool
        let disabledReason: String?
        let pending: Int
        let failed: Int
        let sparkline: String
        /// The last 24 hours in words: "40% of 5 attempts answered 2xx", or that there was none.
        let share: String
        let lastSuccessAt: Stamp?
        let failingSince: Stamp?
    }

    struct AttemptRow {
        let endpointId: String
        let endpointURL: String?
        let messageId: String
        let eventType: String
        let at: Stamp?
        /// The status code, or "—" when nothing was answered (refused, timed out).
        let code: String
        let answered2xx: Bool
        let latencyMs: Int
        /// The answer's first characters as the table shows them; all of it (1 KiB at most) on hover.
        let excerpt: String?
        let excerptWhole: String?
        let error: String?
        let messageStatus: String
    }

    struct OutboundPage {
        let frame: ConsoleFrame
        let endpoints: [EndpointRow]
        let pendingTotal: Int
        let failedTotal: Int
        let attempts: [AttemptRow]
        let showEndpoint = true
    }

    struct OutboundEndpointPage {
        struct Message {
            let messageId: String
            let eventType: String
            let createdAt: Stamp?
            let attempts: Int
            let lastStatusCode: String?
            let lastError: String?
        }

        let frame: ConsoleFrame
        let endpoint: EndpointRow
        let chart: String
        let eventTypes: String
        let companyId: String?
        let rateLimit: String
        let secret: String
        let previousSecretUntil: Stamp?
        let createdAt: Stamp?
        let attempts: [AttemptRow]
        let failedMessages: [Message]
        /// The recover form's `since`: 24 hours ago.
        let recoverSince: String
        let showEndpoint = false
    }

    struct RotatedSecretPage {
        let frame: ConsoleFrame
        let id: String
        let url: String
        let secret: String
        let previousSecretUntil: Stamp?
    }

    /// The hours a sparkline covers, how many attempts the list shows, how many failed messages an endpoint's page lists.
    static let outboundHours = 24
    static let latestAttempts = 50
    static let failedMessagesShown = 20

    func outboundPage(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let since = await liveSince(context)
        let now = Date()
        let endpoints = try await outbound.list(after: nil, limit: 500, logger: context.logger)
        let counts = try await outbound.counts(logger: context.logger)
        let hours = try await outbound.attemptsByHour(endpointId: nil, hours: Self.outboundHours, now: now, logger: context.logger)
        let attempts = try await outbound.latestAttempts(endpointId: nil, since: nil, limit: Self.latestAttempts, logger: context.logger)
        let urls = Dictionary(endpoints.map { ($0.id, $0.url) }, uniquingKeysWith: { first, _ in first })
        let rows = endpoints.map { Self.endpointRow($0, counts: counts[$0.id], hours: hours[$0.id], now: now) }
        return renderer.page("outbound", OutboundPage(
            frame: ConsoleFrame(title: "Outbound webhooks", section: "/console/outbound", session: session, notice: Self.notice(request),
                                liveSince: since),
            endpoints: rows, pendingTotal: rows.reduce(0) { $0 + $1.pending }, failedTotal: rows.reduce(0) { $0 + $1.failed },
            attempts: attempts.map { Self.attemptRow($0, url: urls[$0.endpointId] ?? "(deleted)") }))
    }

    func outboundEndpointPage(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let since = await liveSince(context)
        let id = try Self.endpointId(context)
        let now = Date()
        let endpoint = try await outbound.get(id, logger: context.logger)
        let counts = try await outbound.counts(logger: context.logger)
        let hours = try await outbound.attemptsByHour(endpointId: id, hours: Self.outboundHours, now: now, logger: context.logger)
        // The same day the chart covers: it bounds how much of the attempts' time index one endpoint's list reads.
        let attempts = try await outbound.latestAttempts(
            endpointId: id, since: WebhookEndpoints.firstHour(of: Self.outboundHours, now: now), limit: Self.latestAttempts, logger: context.logger)
        let failed = try await outbound.messages(id, status: .failed, before: nil, limit: Self.failedMessagesShown, logger: context.logger)
        let row = Self.endpointRow(endpoint, counts: counts[id], hours: hours[id], now: now)
        return renderer.page("outbound-endpoint", OutboundEndpointPage(
            frame: ConsoleFrame(title: "Endpoint " + endpoint.url, section: "/console/outbound", session: session, notice: Self.notice(request),
                                liveSince: since),
            endpoint: row,
            chart: Self.successChart(hours[id], now: now, width: 480, height: 64),
            eventTypes: endpoint.eventTypes?.joined(separator: ", ") ?? "every type",
            companyId: endpoint.companyId?.lowercasedString,
            rateLimit: endpoint.rateLimit.map { "\($0) a second" } ?? "none",
            secret: outbound.maskedSecret(endpoint),
            previousSecretUntil: endpoint.previousSecretUntil.flatMap { $0 > now ? Stamp($0) : nil },
            createdAt: Stamp(endpoint.createdAt),
            attempts: attempts.map { Self.attemptRow($0, url: nil) },
            failedMessages: failed.map {
                .init(messageId: $0.messageId, eventType: $0.eventType, createdAt: Stamp($0.createdAt), attempts: $0.attempts,
                      lastStatusCode: $0.lastStatusCode.map(String.init), lastError: $0.lastError)
            },
            recoverSince: now.addingTimeInterval(-86_400).formatted(.iso8601)))
    }

    /// Rotation answers with the new secret on this page, the only time it is shown: it is in no URL, the page is not
    /// stored (`no-store`) and not live (a refresh would ask for it again), and every other page shows it masked.
    func rotatedSecretPage(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let id = try Self.endpointId(context)
        let secret = try await outbound.rotate(id, logger: context.logger)
        let endpoint = try await outbound.get(id, logger: context.logger)
        context.logger.notice("console: webhook endpoint secret rotated", metadata: ["endpoint_id": "\(id)"])
        return renderer.page("outbound-secret", RotatedSecretPage(
            frame: ConsoleFrame(title: "New signing secret", section: "/console/outbound", session: session, notice: nil),
            id: id.lowercasedString, url: endpoint.url, secret: secret, previousSecretUntil: Stamp(endpoint.previousSecretUntil)))
    }

    static func endpointId(_ context: AppRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: context.parameters.get("id") ?? "") else { throw APIError.notFound }
        return id
    }

    static func endpointRow(
        _ endpoint: WebhookEndpointRecord, counts: (pending: Int, failed: Int)?, hours: [WebhookAttemptHour]?, now: Date
    ) -> EndpointRow {
        let attempts = hours?.reduce(0) { $0 + $1.attempts } ?? 0, succeeded = hours?.reduce(0) { $0 + $1.succeeded } ?? 0
        let share = attempts == 0 ? "no attempt in 24 h"
            : "\(Int((Double(succeeded) / Double(attempts) * 100).rounded()))% of \(attempts) answered 2xx"
        return EndpointRow(
            id: endpoint.id.lowercasedString, url: endpoint.url, description: endpoint.description, status: endpoint.status.rawValue,
            enabled: endpoint.status == .enabled, disabledReason: endpoint.disabledReason, pending: counts?.pending ?? 0,
            failed: counts?.failed ?? 0, sparkline: successChart(hours, now: now, width: 120, height: 28), share: share,
            lastSuccessAt: Stamp(endpoint.lastSuccessAt), failingSince: Stamp(endpoint.failingSince))
    }

    /// The share answered 2xx per UTC hour, the hour `now` is in last; an hour without attempts is a gap.
    static func successChart(_ hours: [WebhookAttemptHour]?, now: Date, width: Int, height: Int) -> String {
        let start = WebhookEndpoints.firstHour(of: outboundHours, now: now)
        let labels = (0..<outboundHours).map { offset in
            start.addingTimeInterval(Double(offset) * 3600).formatted(.iso8601.time(includingFractionalSeconds: false)).prefix(5) + " UTC"
        }
        let buckets = hours?.map { (succeeded: $0.succeeded, attempts: $0.attempts) }
            ?? Array(repeating: (succeeded: 0, attempts: 0), count: outboundHours)
        return SVGChart.sparkline(buckets, labels: labels.map(String.init), caption: "Share of attempts answered 2xx per hour, last 24 hours",
                                  width: width, height: height)
    }

    static func attemptRow(_ attempt: WebhookAttemptListing, url: String?) -> AttemptRow {
        let excerpt = attempt.responseExcerpt.flatMap { $0.isEmpty ? nil : $0 }
        return AttemptRow(
            endpointId: attempt.endpointId.lowercasedString, endpointURL: url, messageId: attempt.messageId, eventType: attempt.eventType,
            at: Stamp(attempt.attemptedAt), code: attempt.statusCode.map(String.init) ?? "—",
            answered2xx: attempt.statusCode.map { (200...299).contains($0) } ?? false, latencyMs: attempt.latencyMs,
            excerpt: excerpt.map { $0.count > 160 ? String($0.prefix(160)) + "…" : $0 }, excerptWhole: excerpt, error: attempt.error,
            messageStatus: attempt.messageStatus.rawValue)
    }

    /// The recover form's time: ISO 8601, as the events filter takes it (a time without a zone is UTC).
    static func recoverSince(_ text: String?) throws -> Date {
        guard let text, let date = Timestamps.parse(text), date <= AdminOpsController<AppRequestContext>.latestFilterTime else {
            throw APIError(.badRequest, code: "invalid_request", message: "'since' must be an ISO 8601 time, such as 2026-12-01T00:00:00Z")
        }
        return date
    }
}
