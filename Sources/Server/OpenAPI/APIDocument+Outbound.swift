import HTTPTypes
import MarketplaceCore
import Outbound
import Storage

extension APIDocument {
    static let endpointId = Parameter.path("id", "The endpoint's id.", APISchemas.uuid)
    static let endpointNotFound = Answer.error(404, "No such endpoint.")

    /// The outbound webhook endpoints and their messages (docs/outbound.md).
    static let outboundOperations: [APIOperation] = [
        admin(.post, "/webhook-endpoints", "adminCreateWebhookEndpoint",
              "Register an endpoint; its secret is in this answer only (`whsec_…`, Standard Webhooks).",
              requestBody: APISchemas.object([
                  "url": ["type": "string", "description": "https (http with OUTBOUND_ALLOW_HTTP); internal hosts refused unless OUTBOUND_ALLOW_PRIVATE_NETWORKS."],
                  "event_types": ["type": "array", "items": APISchemas.enumeration(OutboundEventType.all), "description": "Left out: every type."],
                  "company_id": ["type": "string", "format": "uuid", "description": "Left out: every company."],
                  "description": APISchemas.string,
                  "rate_limit": ["type": "integer", "minimum": 1, "maximum": 100_000, "description": "Messages a second."],
              ], required: ["url"]),
              [.json(201, "The endpoint, with its secret.", APISchemas.ref("WebhookEndpoint")), Answer.error(400, "A field is malformed (named); a refused URL names `url`.")]),
        admin(.get, "/webhook-endpoints", "adminWebhookEndpoints", "Every endpoint, oldest first; secrets masked.",
              parameters: [adminLimit, .query("after", "The `next_cursor` of the previous page.", APISchemas.uuid)],
              [.json(200, "Endpoints.", APISchemas.ref("WebhookEndpointPage")), badRequest]),
        admin(.get, "/webhook-endpoints/{id}", "adminWebhookEndpoint", "One endpoint; its secret masked.", parameters: [endpointId],
              [.json(200, "The endpoint.", APISchemas.ref("WebhookEndpoint")), badRequest, endpointNotFound]),
        admin(.patch, "/webhook-endpoints/{id}", "adminUpdateWebhookEndpoint",
              "Change `url`, `event_types` (null: every type), `description` or `status` (disabling keeps its messages, as failed, for recover).",
              parameters: [endpointId],
              requestBody: APISchemas.object([
                  "url": APISchemas.string, "event_types": ["type": ["array", "null"], "items": APISchemas.enumeration(OutboundEventType.all)],
                  "description": APISchemas.nullable("string"), "status": APISchemas.enumeration(WebhookEndpointStatus.allCases.map(\.rawValue)),
              ], required: []),
              [.json(200, "The endpoint.", APISchemas.ref("WebhookEndpoint")), Answer.error(400, "A field is malformed (named)."), endpointNotFound]),
        admin(.delete, "/webhook-endpoints/{id}", "adminDeleteWebhookEndpoint", "Delete an endpoint and its messages.", parameters: [endpointId],
              [Answer(status: 204, description: "Deleted.", schema: nil), badRequest, endpointNotFound]),
        admin(.post, "/webhook-endpoints/{id}/rotate-secret", "adminRotateWebhookSecret",
              "A new secret, in this answer only; for OUTBOUND_SECRET_OVERLAP every message carries both signatures.", parameters: [endpointId],
              [.json(200, "The new secret.", APISchemas.object(["id": APISchemas.uuid, "secret": APISchemas.string])), badRequest, endpointNotFound]),
        admin(.post, "/webhook-endpoints/{id}/test", "adminTestWebhookEndpoint", "Send a `webhook.test` message.", parameters: [endpointId],
              [.json(202, "Queued.", APISchemas.object(["message_id": APISchemas.string])), badRequest, endpointNotFound]),
        admin(.post, "/webhook-endpoints/{id}/recover", "adminRecoverWebhookEndpoint", "Send again every failed message since `since`.",
              parameters: [endpointId], requestBody: APISchemas.object(["since": APISchemas.dateTime]),
              [.json(202, "How many were queued again.", APISchemas.object(["recovered": APISchemas.integer])),
               Answer.error(400, "`since` is not an RFC 3339 time."), endpointNotFound]),
        admin(.get, "/webhook-endpoints/{id}/messages", "adminWebhookMessages", "The endpoint's messages, newest first.",
              parameters: [endpointId, .query("status", "Only these.", APISchemas.enumeration(WebhookMessageStatus.allCases.map(\.rawValue))), adminLimit,
                           .query("cursor", "The `next_cursor` of the previous page.")],
              [.json(200, "Messages.", APISchemas.ref("WebhookMessagePage")), badRequest, endpointNotFound]),
        admin(.get, "/webhook-messages/{id}/attempts", "adminWebhookAttempts", "Each attempt of a message, oldest first.",
              parameters: [.path("id", "The message's id (its `webhook-id`).")],
              [.json(200, "Attempts.", APISchemas.ref("WebhookAttemptList")), Answer.error(404, "No such message.")]),
        admin(.post, "/webhook-messages/{id}/resend", "adminResendWebhookMessage", "Send a message again (its `webhook-id` kept).",
              parameters: [.path("id", "The message's id (its `webhook-id`).")],
              [.json(202, "Queued.", APISchemas.object(["message_id": APISchemas.string])), Answer.error(404, "No such message.")]),
        admin(.post, "/drift/check", "adminDriftCheck", "Queue the drift check of every active company's models (or one company's): docs/drift.md.",
              parameters: [.query("company_id", "Only this company.", APISchemas.uuid)],
              [.json(202, "The checks' jobs (one already waiting is reused).", APISchemas.jobIds), badRequest]),
        admin(.get, "/drift", "adminDrift", "Drifts on record, oldest detected first.",
              parameters: [.query("state", "Only these.", APISchemas.enumeration(DriftState.allCases.map(\.rawValue))), adminLimit,
                           .query("cursor", "The `next_cursor` of the previous page.")],
              [.json(200, "Drifts.", APISchemas.ref("DriftPage")), badRequest]),
    ]
}

extension APISchemas {
    static let outboundComponents: [String: JSONValue] = [
        "WebhookEndpoint": object([
            "id": uuid, "url": string, "description": nullable("string"),
            "event_types": ["type": ["array", "null"], "items": string, "description": "null: every type."],
            "company_id": nullable("string", format: "uuid"), "rate_limit": nullable("integer"),
            "status": enumeration(WebhookEndpointStatus.allCases.map(\.rawValue)), "disabled_reason": nullable("string"),
            "secret": ["type": "string", "description": "Whole when created or rotated; masked (`whsec_…` and its last four) otherwise."],
            "pending_messages": integer, "failed_messages": integer,
            "last_success_at": nullable("string", format: "date-time"), "failing_since": nullable("string", format: "date-time"),
            "created_at": dateTime, "updated_at": dateTime,
        ], required: ["id", "url", "status", "secret", "pending_messages", "failed_messages", "created_at", "updated_at"]),
        "WebhookEndpointPage": object(["data": array(ref("WebhookEndpoint")), "next_cursor": nullable("string")]),
        "WebhookMessage": object([
            "id": ["type": "string", "description": "The `webhook-id` it is sent with."], "event_type": string,
            "company_id": nullable("string", format: "uuid"), "status": enumeration(WebhookMessageStatus.allCases.map(\.rawValue)),
            "attempts": integer, "next_attempt_at": nullable("string", format: "date-time"), "last_status_code": nullable("integer"),
            "last_error": nullable("string"), "created_at": dateTime, "delivered_at": nullable("string", format: "date-time"),
        ], required: ["id", "event_type", "status", "attempts", "created_at"]),
        "WebhookMessagePage": object(["data": array(ref("WebhookMessage")), "next_cursor": nullable("string")]),
        "WebhookAttempt": object([
            "attempted_at": dateTime, "status_code": nullable("integer"), "latency_ms": integer,
            "response_excerpt": ["type": ["string", "null"], "description": "The answer's first 1 KiB."], "error": nullable("string"),
        ], required: ["attempted_at", "latency_ms"]),
        "Drift": object([
            "company_id": uuid, "integration_id": string, "connection_id": string, "model": string,
            "state": enumeration(DriftState.allCases.map(\.rawValue)), "nango_count": integer, "our_count": integer, "detected_at": dateTime,
            "healed_at": nullable("string", format: "date-time"), "announced_at": ["type": ["string", "null"], "format": "date-time", "description": "When sync.drift_detected was sent."],
        ], required: ["company_id", "integration_id", "connection_id", "model", "state", "nango_count", "our_count", "detected_at"]),
        "DriftPage": object(["data": array(ref("Drift")), "next_cursor": nullable("string")]),
        "WebhookAttemptList": object(["data": array(ref("WebhookAttempt")), "next_cursor": nullable("string")]),
    ]
}
