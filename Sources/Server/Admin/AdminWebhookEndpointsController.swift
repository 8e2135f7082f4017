import Foundation
import Hummingbird
import Logging
import MarketplaceCore
import Outbound
import Storage

/// `/api/admin/webhook-endpoints` and `/api/admin/webhook-messages` (docs/outbound.md): endpoints clients are told at,
/// their messages and attempts; resend, recover, rotate and test.
struct AdminWebhookEndpointsController<Context: RequestContext>: Sendable {
    let endpoints: WebhookEndpoints
    let cipher: CredentialCipher

    struct CreateBody: Decodable {
        let url: String?
        let event_types: [String]?
        let company_id: String?
        let description: String?
        let rate_limit: Int?
    }

    /// PATCH: a field left out stays as it is; `event_types: null` means every type again.
    struct PatchBody: Decodable {
        let url: String?
        let event_types: [String]??
        let status: String?
        let description: String??

        enum CodingKeys: String, CodingKey { case url, event_types, status, description }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            url = try container.decodeIfPresent(String.self, forKey: .url)
            status = try container.decodeIfPresent(String.self, forKey: .status)
            event_types = container.contains(.event_types) ? .some(try container.decodeIfPresent([String].self, forKey: .event_types)) : nil
            description = container.contains(.description) ? .some(try container.decodeIfPresent(String.self, forKey: .description)) : nil
        }
    }

    struct RecoverBody: Decodable {
        let since: String?
    }

    struct EndpointAnswer: Encodable {
        let id: String
        let url: String
        let description: String?
        let event_types: [String]?
        let company_id: String?
        let rate_limit: Int?
        let status: String
        let disabled_reason: String?
        /// Whole only in the answer that created or rotated it.
        let secret: String
        let pending_messages: Int
        let failed_messages: Int
        let last_success_at: Date?
        let failing_since: Date?
        let created_at: Date
        let updated_at: Date
    }

    struct MessageAnswer: Encodable {
        let id: String
        let event_type: String
        let company_id: String?
        let status: String
        let attempts: Int
        let next_attempt_at: Date?
        let last_status_code: Int?
        let last_error: String?
        let created_at: Date
        let delivered_at: Date?
    }

    struct AttemptAnswer: Encodable {
        let attempted_at: Date
        let status_code: Int?
        let latency_ms: Int
        let response_excerpt: String?
        let error: String?
    }

    /// A page: `next_cursor` is always there, null on the last page.
    struct DataAnswer<Item: Encodable>: Encodable {
        let data: [Item]
        let next_cursor: String?

        enum CodingKeys: String, CodingKey { case data, next_cursor }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(data, forKey: .data)
            try container.encode(next_cursor, forKey: .next_cursor)
        }
    }

    func answer(_ endpoint: WebhookEndpointRecord, secret: String?, counts: (pending: Int, failed: Int)?) -> EndpointAnswer {
        let shown = secret ?? (try? cipher.open(endpoint.secretSealed)).map(WebhookSigner.masked) ?? WebhookSigner.prefix + "…"
        return EndpointAnswer(
            id: endpoint.id.lowercasedString, url: endpoint.url, description: endpoint.description, event_types: endpoint.eventTypes,
            company_id: endpoint.companyId?.lowercasedString, rate_limit: endpoint.rateLimit, status: endpoint.status.rawValue,
            disabled_reason: endpoint.disabledReason, secret: shown, pending_messages: counts?.pending ?? 0, failed_messages: counts?.failed ?? 0,
            last_success_at: endpoint.lastSuccessAt, failing_since: endpoint.failingSince, created_at: endpoint.createdAt, updated_at: endpoint.updatedAt)
    }

    static func decode<Body: Decodable>(_ type: Body.Type, _ request: Request, shape: String) async throws -> Body {
        do {
            return try JSONDecoder().decode(Body.self, from: Data(try await request.body.collect(upTo: 64 * 1024).readableBytesView))
        } catch {
            throw APIError(.badRequest, code: "invalid_request", message: "body must be JSON \(shape)")
        }
    }

    static func id(_ context: Context) throws -> UUID {
        guard let id = try AdminOpsController<Context>.uuid(context.parameters.get("id"), "id") else { throw APIError.notFound }
        return id
    }

    static func limit(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters["limit"].map(String.init) else { return 50 }
        guard let limit = Int(text), (1...500).contains(limit) else {
            throw APIError(.badRequest, code: "invalid_parameter", message: "'limit' must be an integer from 1 to 500")
        }
        return limit
    }

    func register(on group: RouterGroup<Context>) {
        group.post("/webhook-endpoints") { request, context in
            let body = try await Self.decode(CreateBody.self, request, shape: "{url, event_types?, company_id?, description?, rate_limit?}")
            guard let url = body.url else { throw APIError(.badRequest, code: "invalid_parameter", message: "'url' is required") }
            let companyId = try AdminOpsController<Context>.uuid(body.company_id, "company_id")
            let (endpoint, secret) = try await endpoints.create(
                url: url, eventTypes: body.event_types, companyId: companyId, description: body.description, rateLimit: body.rate_limit,
                logger: context.logger)
            context.logger.notice("webhook endpoint created", metadata: ["endpoint_id": "\(endpoint.id)"])
            return try JSONResponse.make(answer(endpoint, secret: secret, counts: nil), status: .created)
        }
        group.get("/webhook-endpoints") { request, context in
            let after = try AdminOpsController<Context>.uuid(request.uri.queryParameters["after"].map(String.init), "after")
            let limit = try Self.limit(request)
            let page = try await endpoints.list(after: after, limit: limit + 1, logger: context.logger)
            let counts = try await endpoints.counts(logger: context.logger)
            let shown = page.prefix(limit)
            return try JSONResponse.make(DataAnswer(
                data: shown.map { answer($0, secret: nil, counts: counts[$0.id]) },
                next_cursor: page.count > limit ? shown.last?.id.lowercasedString : nil))
        }
        group.get("/webhook-endpoints/:id") { _, context in
            let endpoint = try await endpoints.get(try Self.id(context), logger: context.logger)
            let counts = try await endpoints.counts(logger: context.logger)
            return try JSONResponse.make(answer(endpoint, secret: nil, counts: counts[endpoint.id]))
        }
        group.patch("/webhook-endpoints/:id") { request, context in
            let id = try Self.id(context)
            let body = try await Self.decode(PatchBody.self, request, shape: "{url?, event_types?, status?, description?}")
            var status: WebhookEndpointStatus?
            if let text = body.status {
                guard let parsed = WebhookEndpointStatus(rawValue: text) else {
                    throw APIError(.badRequest, code: "invalid_parameter", message: "'status' must be one of \(WebhookEndpointStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                status = parsed
            }
            let endpoint = try await endpoints.update(
                id, WebhookEndpointChange(url: body.url, eventTypes: body.event_types, status: status, description: body.description), logger: context.logger)
            let counts = try await endpoints.counts(logger: context.logger)
            return try JSONResponse.make(answer(endpoint, secret: nil, counts: counts[endpoint.id]))
        }
        group.delete("/webhook-endpoints/:id") { _, context in
            try await endpoints.delete(try Self.id(context), logger: context.logger)
            return Response(status: .noContent)
        }
        group.post("/webhook-endpoints/:id/rotate-secret") { _, context in
            let id = try Self.id(context)
            let secret = try await endpoints.rotate(id, logger: context.logger)
            context.logger.notice("webhook endpoint secret rotated", metadata: ["endpoint_id": "\(id)"])
            return try JSONResponse.make(["id": id.lowercasedString, "secret": secret])
        }
        group.post("/webhook-endpoints/:id/test") { _, context in
            let messageId = try await endpoints.sendTest(try Self.id(context), logger: context.logger)
            return try JSONResponse.make(["message_id": messageId], status: .accepted)
        }
        group.post("/webhook-endpoints/:id/recover") { request, context in
            let id = try Self.id(context)
            let body = try await Self.decode(RecoverBody.self, request, shape: "{since} (RFC 3339)")
            guard let text = body.since, let since = ISO8601DateFormatter().date(from: text)
                ?? { let f = ISO8601DateFormatter(); f.formatOptions.insert(.withFractionalSeconds); return f.date(from: text) }() else {
                throw APIError(.badRequest, code: "invalid_parameter", message: "'since' must be an RFC 3339 time, such as 2026-12-01T00:00:00Z")
            }
            let recovered = try await endpoints.recover(id, since: since, logger: context.logger)
            return try JSONResponse.make(["recovered": recovered], status: .accepted)
        }
        group.get("/webhook-endpoints/:id/messages") { request, context in
            let id = try Self.id(context)
            var status: WebhookMessageStatus?
            if let text = request.uri.queryParameters["status"].map(String.init) {
                guard let parsed = WebhookMessageStatus(rawValue: text) else {
                    throw APIError(.badRequest, code: "invalid_parameter", message: "'status' must be one of \(WebhookMessageStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                status = parsed
            }
            var before: Int64?
            if let text = request.uri.queryParameters["cursor"].map(String.init) {
                guard let value = Int64(text), value > 0 else { throw APIError(.badRequest, code: "invalid_parameter", message: "'cursor' is not a cursor of this list") }
                before = value
            }
            let limit = try Self.limit(request)
            let page = try await endpoints.messages(id, status: status, before: before, limit: limit + 1, logger: context.logger)
            let shown = page.prefix(limit)
            return try JSONResponse.make(DataAnswer(
                data: shown.map {
                    MessageAnswer(id: $0.messageId, event_type: $0.eventType, company_id: $0.companyId?.lowercasedString, status: $0.status.rawValue,
                                  attempts: $0.attempts, next_attempt_at: $0.nextAttemptAt, last_status_code: $0.lastStatusCode,
                                  last_error: $0.lastError, created_at: $0.createdAt, delivered_at: $0.deliveredAt)
                },
                next_cursor: page.count > limit ? shown.last.map { String($0.id) } : nil))
        }
        group.get("/webhook-messages/:id/attempts") { _, context in
            let attempts = try await endpoints.attempts(messageId: context.parameters.get("id") ?? "", logger: context.logger)
            return try JSONResponse.make(DataAnswer(data: attempts.map {
                AttemptAnswer(attempted_at: $0.attemptedAt, status_code: $0.statusCode, latency_ms: $0.latencyMs,
                              response_excerpt: $0.responseExcerpt, error: $0.error)
            }, next_cursor: nil))
        }
        group.post("/webhook-messages/:id/resend") { _, context in
            let messageId = context.parameters.get("id") ?? ""
            try await endpoints.resend(messageId: messageId, logger: context.logger)
            return try JSONResponse.make(["message_id": messageId], status: .accepted)
        }
    }
}
