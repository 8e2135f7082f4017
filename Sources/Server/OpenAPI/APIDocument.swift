import Foundation
import HTTPTypes
import MarketplaceCore
import Storage

/// The OpenAPI 3.1 document of the whole API, rendered from `operations`, the table of every route.
/// Why a table in code rather than spec-first generation: the routes were written first, with middleware
/// (auth, rate limits, ETags) the generator's handlers would sit behind anyway; a table in the same
/// target is checked against the router and against real answers by the tests, which is what keeps it true.
enum APIDocument {
    typealias Answer = APIOperation.Answer
    typealias Parameter = APIOperation.Parameter

    static let requestIdHeader = ["X-Request-ID": "The request's id, echoed when the client sent a well-formed one."]
    static let rateLimitHeaders = [
        "RateLimit-Limit": "Requests allowed in the window.", "RateLimit-Remaining": "Requests left in the window.",
        "RateLimit-Reset": "Seconds until the window resets.",
    ]
    static let etagHeaders = rateLimitHeaders.merging([
        "ETag": "A strong validator of the exact body (the gzip form has one of its own); send it back as If-None-Match.",
        "Vary": "Accept-Encoding: a body of 1 KB or more is sent gzip-compressed (Content-Encoding: gzip) to a client that accepts gzip.",
    ]) { a, _ in a }

    static let unauthorized = Answer.error(401, "Missing, malformed, expired or wrongly signed token.")
    static let adminUnauthorized = Answer.error(401, "Missing or wrong X-Admin-Token, or no ADMIN_TOKEN configured.")
    static let notFound = Answer.error(404, "No such resource, or one this token may not see.")
    static let badRequest = Answer.error(400, "A parameter is malformed; the message names it.")
    static let rateLimited = Answer.error(429, "Too many requests for this principal.",
                                          headers: rateLimitHeaders.merging(["Retry-After": "Seconds to wait."]) { a, _ in a })
    static let notModified = Answer(status: 304, description: "The body is unchanged since the ETag sent in If-None-Match.", schema: nil,
                                    headers: ["ETag": "The current validator.", "Vary": "Accept-Encoding."])
    static let nangoUnavailable = Answer.error(502, "Nango refused our key or did not answer usably.")

    static let ifNoneMatch = Parameter.header("If-None-Match", "An ETag from an earlier answer (either encoding's): 304 when the body is unchanged.")
    static let acceptEncoding = Parameter.header("Accept-Encoding", "`gzip` (or `*`) with a non-zero weight: a body of 1 KB or more comes gzip-compressed.")
    static let companyId = Parameter.path("id", "The company's id.", APISchemas.uuid)
    static let pipelineAction: [Parameter] = [
        .path("name", "The pipeline's name in pipelines.yaml."), .query("company_id", "Only this company.", APISchemas.uuid),
    ]
    static let pipelineActionAnswers: [Answer] = [
        .json(202, "One job per company (one already waiting is reused).", APISchemas.jobIds), Answer.error(400, "A malformed company_id."),
        Answer.error(404, "No pipeline of that name is loaded."), Answer.error(409, "The pipeline is disabled."),
    ]
    static let listParameters: [Parameter] = [
        .query("limit", "Items per page (1–500, default 50).", ["type": "integer", "minimum": 1, "maximum": 500, "default": 50]),
        .query("cursor", "The `next_cursor` of the previous page; opaque and signed (a tampered one → 400)."),
        .query("updated_since", "Only items updated at or after this time (ISO 8601).", APISchemas.dateTime),
        .query("q", "Search in name and e-mail (names, cities or SKUs for the other resources); at most 200 characters."),
        .query("sort", "Sort key; prefix `-` for descending.", APISchemas.enumeration(
            ["updated_at", "-updated_at", "created_at", "-created_at", "name", "-name"])),
        .query("include_deleted", "Also items deleted at the provider (soft-deleted).", APISchemas.boolean),
        .query("include", "`raw` adds the provider's record as Nango served it.", APISchemas.enumeration(["raw"])),
        ifNoneMatch, acceptEncoding,
    ]
    static let changeFeedParameters: [Parameter] = [
        .query("after", "`now` (the feed's current end), or the `next_cursor` of an earlier answer of this same feed.", required: true),
        .query("limit", "Changes per answer (1–1000, default 100).", ["type": "integer", "minimum": 1, "maximum": 1000, "default": 100]),
        .query("resources", "A comma list of contacts, locations, products, companies: only their changes.",
               ["type": "string", "pattern": "^(companies|locations|contacts|products)(,(companies|locations|contacts|products))*$"]),
        .query("wait", "Seconds to hold the request when nothing follows the cursor (0–30): it answers as soon as a change commits.",
               ["type": "integer", "minimum": 0, "maximum": 30, "default": 0]),
    ]
    static let changeFeedAnswers: [Answer] = [
        .json(200, "Changes after the cursor (none when `wait` ran out).", APISchemas.ref("ChangePage")),
        Answer.error(400, "`after` missing, tampered with, or from another feed; or another parameter malformed (named)."),
        Answer.error(410, "The cursor is behind what the change log keeps (`cursor_expired`): start from after=now and re-read the lists."),
        Answer.error(503, "This instance holds as many long polls as it may (CHANGES_MAX_WAITERS).", headers: ["Retry-After": "Seconds to wait."]),
    ]
    static let adminLimit = Parameter.query("limit", "At most this many (1–500, default 50).",
                                            ["type": "integer", "minimum": 1, "maximum": 500, "default": 50])
    static let eventFilters: [Parameter] = [
        .query("type", "Event type: auth, sync, forward or one Nango added."),
        .query("status", "Event status.", APISchemas.enumeration(WebhookEventStatus.allCases.map(\.rawValue))),
        .query("connection_id", "Events of this connection id (under any integration)."),
        .query("integration_id", "Events of this integration (with connection_id: one company's)."),
        .query("since", "Received at or after (ISO 8601).", APISchemas.dateTime),
        .query("until", "Received before (ISO 8601).", APISchemas.dateTime),
        .query("limit", "At most this many (1–5000).", ["type": "integer", "minimum": 1, "maximum": 5000]),
    ]

    static func health(_ method: HTTPRequest.Method = .get, _ path: String, _ id: String, _ summary: String, _ answers: [Answer]) -> APIOperation {
        APIOperation(method: method, path: path, operationId: id, tag: "health", summary: summary, security: .none, answers: answers)
    }

    static func business(_ method: HTTPRequest.Method, _ path: String, _ id: String, _ summary: String,
                         parameters: [Parameter] = [], _ answers: [Answer]) -> APIOperation {
        APIOperation(method: method, path: path, operationId: id, tag: "companies", summary: summary, security: .bearer,
                     parameters: parameters, answers: answers + [unauthorized, rateLimited])
    }

    static func admin(_ method: HTTPRequest.Method, _ path: String, _ id: String, _ summary: String,
                      parameters: [Parameter] = [], requestBody: JSONValue? = nil, _ answers: [Answer]) -> APIOperation {
        APIOperation(method: method, path: "/api/admin" + path, operationId: id, tag: "admin", summary: summary, security: .admin,
                     parameters: parameters, requestBody: requestBody, answers: answers + [adminUnauthorized])
    }

    static func resourceList(_ name: String, _ schema: String, _ noun: String) -> APIOperation {
        business(.get, "/api/companies/{id}/\(name)", "list\(schema)s", "The company's \(noun), a keyset page.",
                 parameters: [companyId] + listParameters,
                 [.json(200, "A page of \(noun).", APISchemas.ref("\(schema)Page"), headers: etagHeaders), notModified, badRequest, notFound])
    }

    static let operations: [APIOperation] = [
        health(.get, "/health", "health", "The process is up.", [.json(200, "Up.", APISchemas.ref("Status"))]),
        health(.get, "/health/live", "healthLive", "Liveness: the process answers.", [.json(200, "Alive.", APISchemas.ref("Status"))]),
        health(.get, "/health/ready", "healthReady", "Readiness: Postgres answers and every migration is applied.", [
            .json(200, "Ready.", APISchemas.ref("HealthReport")), .json(503, "Not ready.", APISchemas.ref("HealthReport")),
        ]),
        health(.get, "/health/detailed", "healthDetailed", "Every dependency with latency and pool figures, and the pipelines file.", [
            .json(200, "Ok or degraded (Redis down, or a refused pipelines edit).", APISchemas.ref("HealthReport")),
            .json(503, "Down: Postgres does not answer.", APISchemas.ref("HealthReport")),
        ]),
        health(.get, "/metrics", "metrics", "Prometheus metrics in the text exposition format.", [
            Answer(status: 200, description: "Metrics.", schema: nil, contentType: "text/plain"),
        ]),
        health(.get, "/openapi.json", "openapi", "This document.", [
            .json(200, "The OpenAPI 3.1 document.", ["type": "object"]),
        ]),
        APIOperation(
            method: .get, path: "/api/auth/oauth-url", operationId: "oauthURL", tag: "auth",
            summary: "Start connecting: a Nango connect session for a random end user, a signed state bound to this browser (an HttpOnly cookie, and `browser_nonce`). With a company's bearer token: a reconnect of that company's connection.",
            security: .none,
            parameters: [
                .query("integration_id", "Nango integration (provider config key).", required: true),
                .query("connection_id", "Your own label for the connection (kept as a Nango tag; proves nothing)."),
            ],
            answers: [.json(200, "The session.", APISchemas.ref("ConnectSession")), badRequest,
                      Answer.error(401, "A reconnect's bearer token is not valid."), nangoUnavailable]),
        APIOperation(
            method: .get, path: "/api/auth/callback", operationId: "oauthCallback", tag: "auth",
            summary: "Where the front end sends the user after Nango's Connect UI: verifies state, stores the company.",
            security: .none,
            parameters: [
                .query("state", "The state from oauth-url.", required: true),
                .query("connection_id", "The connection id Nango's Connect UI reported.", required: true),
            ],
            answers: [
                .json(200, "The company and a company-scoped token (no redirect URL configured).", APISchemas.ref("CompanyToken")),
                Answer(status: 302, description: "Redirect to the configured success or failure URL.", schema: nil,
                       headers: ["Location": "The success URL with company_id and connection_id, or the failure URL with error."]),
                Answer.error(400, "State missing, tampered with, expired, or issued to another browser."),
                Answer.error(403, "No connection made by this browser's flow matches (the same answer whether the connection exists or not)."),
                nangoUnavailable,
            ]),
        APIOperation(
            method: .post, path: "/api/auth/exchange", operationId: "exchangeConnection", tag: "auth",
            summary: "Finish the connect flow from the front end: the connection its Connect UI made, the state and the browser nonce from oauth-url, for the company and a company-scoped token.",
            security: .none,
            requestBody: APISchemas.object(["connection_id": APISchemas.string, "state": APISchemas.string, "nonce": APISchemas.string],
                                           required: ["connection_id", "state"]),
            answers: [
                .json(200, "The company (never its tokens) and a JWT scoped to it.", APISchemas.ref("CompanyToken")),
                Answer.error(400, "A missing or malformed field, or a state missing, tampered with, expired or issued to another browser."),
                Answer.error(403, "No connection made by this browser's flow matches (the same answer whether the connection exists or not)."),
                nangoUnavailable,
            ]),
        APIOperation(
            method: .post, path: "/webhooks/nango", operationId: "nangoWebhook", tag: "webhooks",
            summary: "Nango's webhooks (auth, sync, forward), stored durably before the answer.",
            security: .nangoSignature,
            requestBody: ["type": "object", "description": "A webhook body as Nango sends it (see docs/nango.md §1).", "required": ["type"]],
            answers: [
                .json(200, "Stored, or a repeat of a stored delivery.", APISchemas.ref("WebhookAccepted")),
                Answer.error(400, "Not JSON, or a known type without a required field (named in the message)."),
                Answer.error(401, "Missing or wrong signature; nothing stored."),
                Answer.error(413, "Body over the limit."),
                Answer.error(503, "Postgres unavailable: nothing stored, Nango retries."),
            ]),
        business(.get, "/api/companies", "listCompanies", "Companies this token may see (its own; all with the admin scope).",
                 parameters: listParameters,
                 [.json(200, "A page of companies.", APISchemas.ref("CompanyPage"), headers: etagHeaders), notModified, badRequest]),
        business(.get, "/api/companies/{id}", "getCompany", "One company.", parameters: [companyId, ifNoneMatch, acceptEncoding],
                 [.json(200, "The company.", APISchemas.ref("Company"), headers: etagHeaders), notModified, notFound]),
        resourceList("locations", "Location", "locations"),
        resourceList("contacts", "Contact", "contacts"),
        resourceList("products", "Product", "products"),
        business(.get, "/api/companies/{id}/changes", "listCompanyChanges",
                 "The company's change feed: every committed change after a cursor, oldest first (docs/changes.md).",
                 parameters: [companyId] + changeFeedParameters, changeFeedAnswers + [notFound]),
        business(.get, "/api/changes", "listChanges", "Every company's changes in one feed (admin scope), each naming its company.",
                 parameters: changeFeedParameters,
                 changeFeedAnswers + [Answer.error(403, "A company token: it reads /api/companies/{id}/changes.")]),
        business(.post, "/api/companies/{id}/sync", "syncCompany",
                 "Enqueue a sync of every model the company's pipelines read (a waiting one is reused).",
                 parameters: [companyId, .query("nango", "Ask Nango to run its syncs first.", APISchemas.boolean)],
                 [.json(202, "The sync jobs.", APISchemas.ref("SyncAccepted")), badRequest, notFound,
                  Answer.error(409, "The company is not active (refresh failed or disconnected)."), nangoUnavailable]),
        admin(.get, "/tokens", "adminTokens", "Connection credentials, masked: provider, company, expiry, last refresh, status.",
              parameters: [adminLimit], [.json(200, "Credentials, never a token.", APISchemas.dataList("TokenSummary")), badRequest]),
        admin(.post, "/tokens/refresh-all", "adminRefreshAllTokens", "Enqueue a credential refresh for every active connection.",
              [.json(202, "The refresh jobs.", APISchemas.jobIds)]),
        admin(.get, "/system/health", "adminSystemHealth", "Detailed health and the job queue by status.", [
            .json(200, "Ok or degraded.", APISchemas.ref("SystemHealth")), .json(503, "Postgres is down.", APISchemas.ref("SystemHealth")),
        ]),
        admin(.get, "/webhook-events", "adminWebhookEvents", "The webhook inbox, newest first.", parameters: eventFilters,
              [.json(200, "Events (without their bodies).", APISchemas.dataList("WebhookEvent")), badRequest]),
        admin(.post, "/webhook-events/{id}/replay", "adminReplayWebhookEvent", "Enqueue the job of one stored event again.",
              parameters: [.path("id", "The event's id.", APISchemas.integer)],
              [.json(202, "What the replay did.", APISchemas.ref("Replayed")), badRequest, notFound]),
        admin(.post, "/webhook-events/replay", "adminReplayWebhookEvents", "Replay a range of events (needs since or connection_id).",
              parameters: eventFilters,
              [.json(202, "What each replay did.", APISchemas.dataList("Replayed")), badRequest]),
        admin(.get, "/quarantine", "adminQuarantine", "Records that failed validation, with every reason.",
              parameters: [
                .query("company_id", "Entries of this company.", APISchemas.uuid), .query("pipeline", "Entries of this pipeline."),
                .query("status", "Entry status (default open).", APISchemas.enumeration(QuarantineStatus.allCases.map(\.rawValue))), adminLimit,
              ],
              [.json(200, "Entries.", APISchemas.dataList("QuarantineEntry")), badRequest]),
        admin(.post, "/quarantine/rerun", "adminQuarantineRerun",
              "After a pipeline fix: re-derive each affected company's output from the records already held, so the records it now accepts land.",
              parameters: [.query("company_id", "Only this company.", APISchemas.uuid), .query("pipeline", "Only this pipeline.")],
              [.json(202, "The re-derivation jobs.", APISchemas.jobIds), badRequest]),
        admin(.get, "/companies/{id}/sync", "adminCompanySync", "Sync state per model and the recent pipeline runs of a company.",
              parameters: [companyId], [.json(200, "Sync state.", APISchemas.ref("CompanySync")), badRequest, notFound]),
        admin(.get, "/pipelines", "adminPipelines", "The pipelines file in force (version hash) and the errors of a refused edit.",
              [.json(200, "Pipelines.", APISchemas.ref("Pipelines"))]),
        admin(.post, "/connections/import", "adminImportConnection",
              "Import a connection made outside the connect flow (scripts, demo data): fetched from Nango, stored, and a company token.",
              requestBody: APISchemas.object(["integration_id": APISchemas.string, "connection_id": APISchemas.string]), [
                .json(200, "The company and a JWT scoped to it.", APISchemas.ref("CompanyToken")), badRequest,
                Answer.error(404, "Nango knows no such connection."), nangoUnavailable,
              ]),
        admin(.post, "/companies/{id}/tokens/revoke", "adminRevokeCompanyTokens",
              "Revoke every token issued for the company so far; every instance refuses them within seconds.",
              parameters: [companyId], [
                .json(200, "The company's new token generation.", APISchemas.object(["company_id": APISchemas.uuid, "token_generation": APISchemas.integer])),
                badRequest, notFound,
              ]),
        admin(.post, "/pipelines/reload", "adminReloadPipelines", "Read the pipelines file again now.", [
            .json(200, "Reloaded.", APISchemas.ref("Pipelines")),
            .json(422, "The file has errors; the last good version keeps running.", APISchemas.ref("Pipelines")),
        ]),
        admin(.post, "/pipelines/{name}/backfill", "adminBackfillPipeline",
              "Re-read the pipeline's model from the start of Nango's stream, with a cursor of its own, for every active company of its integration (or one).",
              parameters: pipelineAction, pipelineActionAnswers),
        admin(.post, "/pipelines/{name}/rederive", "adminRederivePipeline",
              "Rebuild the pipeline's rows from the raw records already stored (its rows and open quarantine entries), without calling Nango.",
              parameters: pipelineAction, pipelineActionAnswers),
        admin(.post, "/pipelines/{name}/full-resync", "adminFullResyncPipeline",
              "Re-read the pipeline's model's whole stream (a cursor of its own; the incremental checkpoint stays) for every active company it reads (or one), marking each record seen; after a complete read, rows whose record Nango no longer holds (hard deletes) are soft-deleted, counted in the run's `deleted`.",
              parameters: pipelineAction, pipelineActionAnswers),
        admin(.get, "/jobs", "adminJobs", "The job queue, by status.",
              parameters: [.query("status", "Job status.", APISchemas.enumeration(JobStatus.allCases.map(\.rawValue))),
                           adminLimit],
              [.json(200, "Jobs.", APISchemas.dataList("Job")), badRequest]),
        admin(.post, "/jobs/{id}/retry", "adminRetryJob", "Queue a dead, failed or cancelled job again.",
              parameters: [.path("id", "The job's id.", APISchemas.integer)],
              [.json(202, "The job, queued.", APISchemas.ref("Job")), badRequest, notFound,
               Answer.error(409, "The job is not dead, failed or cancelled.")]),
    ] + outboundOperations

    static func operation(_ method: HTTPRequest.Method, _ path: String) -> APIOperation? {
        operations.first { $0.method == method && $0.path == path }
    }

    /// The document as JSON.
    static func render(version: String = MarketplaceVersion.current) -> JSONValue {
        var paths: [String: [String: JSONValue]] = [:]
        for operation in operations {
            paths[operation.path, default: [:]][operation.method.rawValue.lowercased()] = render(operation)
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "Marketplace sync API", "version": .string(version),
                "description": "Nango webhooks in, provider records normalized into Postgres, read through a cached API.",
            ],
            "servers": [["url": "/"]],
            "tags": .array(["health", "auth", "webhooks", "companies", "admin"].map { ["name": .string($0)] }),
            "paths": .object(paths.mapValues { .object($0) }),
            "components": [
                "schemas": .object(APISchemas.components),
                "securitySchemes": [
                    "bearerAuth": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                   "description": "HS256 with JWT_SECRET; `company_id` limits it to one company, scope `admin` sees all."],
                    "adminToken": ["type": "apiKey", "in": "header", "name": "X-Admin-Token"],
                    "nangoSignature": ["type": "apiKey", "in": "header", "name": "X-Nango-Hmac-Sha256",
                                       "description": "HMAC-SHA256 of the raw body with the Nango secret (the legacy X-Nango-Signature is accepted too)."],
                ],
            ],
        ]
    }

    static func render(_ operation: APIOperation) -> JSONValue {
        var object: [String: JSONValue] = [
            "operationId": .string(operation.operationId), "summary": .string(operation.summary), "tags": [.string(operation.tag)],
        ]
        switch operation.security {
        case .none: object["security"] = []
        case .bearer: object["security"] = [["bearerAuth": []]]
        case .admin: object["security"] = [["adminToken": []]]
        case .nangoSignature: object["security"] = [["nangoSignature": []]]
        }
        if !operation.parameters.isEmpty {
            object["parameters"] = .array(operation.parameters.map { parameter in
                ["name": .string(parameter.name), "in": .string(parameter.location.rawValue), "description": .string(parameter.description),
                 "required": .bool(parameter.required), "schema": parameter.schema]
            })
        }
        if let body = operation.requestBody {
            object["requestBody"] = ["required": true, "content": ["application/json": ["schema": body]]]
        }
        var responses: [String: JSONValue] = [:]
        for answer in operation.answers {
            var response: [String: JSONValue] = ["description": .string(answer.description)]
            let headers = requestIdHeader.merging(answer.headers) { a, _ in a }
            response["headers"] = .object(headers.mapValues { ["description": .string($0), "schema": APISchemas.string] })
            if let schema = answer.schema {
                response["content"] = .object([answer.contentType: ["schema": schema]])
            } else if answer.contentType != "application/json" {
                response["content"] = .object([answer.contentType: ["schema": APISchemas.string]])
            }
            responses[String(answer.status)] = .object(response)
        }
        object["responses"] = .object(responses)
        return .object(object)
    }

    /// The rendered document, encoded once.
    static let json: String = render().jsonText
}
