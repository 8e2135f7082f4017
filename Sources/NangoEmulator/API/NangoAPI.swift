import Foundation
import HTTPTypes
import Hummingbird
import MarketplaceCore
import Nango

/// The subset of Nango's REST API the service uses, with Nango's validation and error codes.
struct NangoAPI<Context: RequestContext>: Sendable {
    let state: EmulatorState
    let webhooks: WebhookSender
    let publicURL: String
    let environment: String

    func register(on group: RouterGroup<Context>) {
        group.get("/records", use: records)
        for prefix in ["/connection", "/connections"] {
            group.get(RouterPath(prefix), use: listConnections)
            group.get(RouterPath(prefix + "/:connectionId"), use: getConnection)
            group.delete(RouterPath(prefix + "/:connectionId"), use: deleteConnection)
        }
        group.post("/connect/sessions", use: createSession)
        group.post("/connect/sessions/reconnect", use: createReconnectSession)
        group.post("/sync/trigger", use: triggerSync)
        group.get("/sync/status", use: syncStatus)
        group.on("/proxy/**", method: .get, use: proxy)
        group.on("/proxy/**", method: .post, use: proxy)
        group.on("/proxy/**", method: .put, use: proxy)
        group.on("/proxy/**", method: .patch, use: proxy)
        group.on("/proxy/**", method: .delete, use: proxy)
    }

    // MARK: GET /records (docs/nango.md §2.3)

    static var allowedRecordParameters: Set<String> { ["model", "variant", "cursor", "limit", "modified_after", "delta", "filter", "ids"] }

    @Sendable func records(_ request: Request, context: Context) async throws -> Response {
        await state.countRecordsRequest()
        let (integration, connectionId) = try Self.connectionHeaders(request)
        let query = request.uri.queryParameters
        for (name, _) in query where !Self.allowedRecordParameters.contains(String(name)) {
            throw NangoErrorResponse.invalid("invalid_query_params", "Unrecognized key: \(name)", path: [String(name)])
        }
        guard let model = query["model"].map(String.init), model.wholeMatch(of: /[A-Z][a-zA-Z0-9_-]+/) != nil else {
            throw NangoErrorResponse.invalid("invalid_query_params", "model is required and must start with an uppercase letter", path: ["model"])
        }
        var limit = 100
        if let text = query["limit"] {
            guard let value = Int(text), (1...10_000).contains(value) else {
                throw NangoErrorResponse.invalid("invalid_query_params", "limit must be an integer from 1 to 10000", path: ["limit"])
            }
            limit = value
        }
        var modifiedAfter: Timestamp?
        if let text = query["modified_after"] ?? query["delta"] {
            guard text.hasSuffix("Z"), let time = Timestamp(parsing: String(text)) else {
                throw NangoErrorResponse.invalid("invalid_query_params", "Invalid datetime", path: ["modified_after"])
            }
            guard time.micros >= Timestamp.now.micros - 365 * 86_400_000_000 else {
                throw NangoErrorResponse.invalid("invalid_query_params", "modified_after must be within the last 12 months", path: ["modified_after"])
            }
            modifiedAfter = time
        }
        var actions: Set<RecordStream.NangoAction>?
        if let text = query["filter"] {
            var parsed = Set<RecordStream.NangoAction>()
            for part in text.split(separator: ",") {
                switch part.lowercased() {
                case "added": parsed.insert(.added)
                case "updated": parsed.insert(.updated)
                case "deleted": parsed.insert(.deleted)
                default: throw NangoErrorResponse.invalid("invalid_query_params", "Invalid filter \(part)", path: ["filter"])
                }
            }
            // Nango's quirk (docs/nango.md §2.3): a combined filter that includes `deleted` leaves deleted records out.
            if parsed.count > 1 { parsed.remove(.deleted) }
            actions = parsed
        }
        let ids = query.getAll("ids").map { String($0) }
        var after: StreamPosition?
        if let cursor = query["cursor"] {
            guard let position = StreamPosition(cursor: String(cursor)) else {
                throw NangoErrorResponse(status: .internalServerError, code: "server_error", message: "Failed to fetch records")
            }
            after = position
        }
        guard await state.connection(connectionId, integration: integration) != nil,
            let stream = await state.stream(connectionId, integration: integration, model: model)
        else {
            if await state.connection(connectionId, integration: integration) != nil {
                return try JSONResponse.make(NangoRecordsPage(records: [], nextCursor: nil))
            }
            throw NangoErrorResponse(status: .badRequest, code: "unknown_connection",
                                     message: "Provided ConnectionId and ProviderConfigKey does not match a valid connection")
        }
        let found = stream.page(.init(after: after, modifiedAfter: modifiedAfter, limit: limit, actions: actions,
                                      ids: ids.isEmpty ? nil : Set(ids)))
        let page = found.prefix(limit)
        let records = page.map { stored in
            // A pruned record keeps only `id` and its metadata; its last_action and position do not move (docs/nango.md §2.4).
            let pruned = stream.prunedAt[stored.id]
            return NangoRecord(id: stored.id, fields: pruned == nil ? stream.payload(stored) : ["id": .string(stored.id)], metadata: .init(
                firstSeenAt: stored.firstSeen.postgres, lastModifiedAt: stored.updated.postgres,
                lastAction: NangoRecord.Action(rawValue: stored.action.rawValue)!, deletedAt: stored.deletedAt?.postgres,
                prunedAt: pruned?.postgres, cursor: stored.position.cursor))
        }
        let next = found.count > limit ? page.last?.position.cursor : nil
        return try Self.recordsResponse(NangoRecordsPage(records: records, nextCursor: next))
    }

    /// What JSON can carry and Swift strings cannot: a lone surrogate escape (JavaScript strings may hold one)
    /// and a number past a double's range, written where the poison control left their markers.
    static func recordsResponse(_ page: NangoRecordsPage) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var text = String(decoding: try encoder.encode(page), as: UTF8.self)
        let lone = String(Character(Unicode.Scalar(0xFDD0 as UInt32)!)), huge = String(Character(Unicode.Scalar(0xFDD1 as UInt32)!))
        if text.contains(lone) || text.contains(huge) {
            text = text.replacingOccurrences(of: lone, with: "\\ud800").replacingOccurrences(of: "\"" + huge + "\"", with: "1e400")
        }
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func connectionHeaders(_ request: Request) throws -> (integration: String, connectionId: String) {
        guard let connectionId = request.headers[HTTPField.Name("Connection-Id")!], !connectionId.isEmpty else {
            throw NangoErrorResponse.invalid("invalid_headers", "Connection-Id is required", path: ["connection-id"])
        }
        guard let integration = request.headers[HTTPField.Name("Provider-Config-Key")!], !integration.isEmpty else {
            throw NangoErrorResponse.invalid("invalid_headers", "Provider-Config-Key is required", path: ["provider-config-key"])
        }
        return (integration, connectionId)
    }

    // MARK: Connections (docs/nango.md §2.5–2.7)

    @Sendable func getConnection(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        guard let integration = request.uri.queryParameters["provider_config_key"].map(String.init) else {
            throw NangoErrorResponse.invalid("invalid_query_params", "provider_config_key is required", path: ["provider_config_key"])
        }
        guard Integration.named(integration) != nil else {
            throw NangoErrorResponse(status: .badRequest, code: "unknown_provider_config", message: "Provider config \(integration) not found")
        }
        let force = request.uri.queryParameters["force_refresh"] == "true"
        let includeRefresh = request.uri.queryParameters["refresh_token"] == "true"
        switch await state.fetchConnection(connectionId, integration: integration, forceRefresh: force) {
        case .missing:
            throw NangoErrorResponse(status: .notFound, code: "not_found", message: "No connection found")
        case .refreshFailed(let connection):
            await webhooks.send(WebhookPayloads.refreshFailure(connection, environment: environment))
            // Refresh exhausted: 424, naming the connection (docs/nango.md §2.5).
            throw NangoErrorResponse(
                status: HTTPResponse.Status(code: 424, reasonPhrase: "Failed Dependency"), code: "invalid_credentials", message: WebhookPayloads.refreshFailureDescription,
                extra: ["payload": .object(["connection": .string(connectionId)])])
        case .connection(let connection):
            return try JSONResponse.make(connection.json(includeRefreshToken: includeRefresh, scopedKey: await state.faults.scopedKey))
        }
    }

    @Sendable func listConnections(_ request: Request, context: Context) async throws -> Response {
        let filter = request.uri.queryParameters["integrationId"].map { Set($0.split(separator: ",").map(String.init)) }
        let items: [JSONValue] = await state.allConnections().filter { filter?.contains($0.integration.key) ?? true }.map {
            .object([
                "id": .number(Double($0.id)), "connection_id": .string($0.connectionId), "provider_config_key": .string($0.integration.key),
                "provider": .string($0.integration.provider), "errors": .array([]), "end_user": $0.apiEndUser,
                "tags": $0.tags.map { .object($0.mapValues(JSONValue.string)) } ?? .object([:]), "metadata": .null,
                "created": .string($0.createdAt.javascript),
            ])
        }
        return try JSONResponse.make(JSONValue.object(["connections": .array(items)]))
    }

    @Sendable func deleteConnection(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        guard let integration = request.uri.queryParameters["provider_config_key"].map(String.init) else {
            throw NangoErrorResponse.invalid("invalid_query_params", "provider_config_key is required", path: ["provider_config_key"])
        }
        guard await state.deleteConnection(connectionId, integration: integration) else {
            throw NangoErrorResponse(status: .badRequest, code: "unknown_connection", message: nil)
        }
        return try JSONResponse.make(JSONValue.object(["success": true]))
    }

    // MARK: Connect sessions (docs/nango.md §2.8)

    @Sendable func createSession(_ request: Request, context: Context) async throws -> Response {
        let body = try await Self.jsonBody(request, context: context)
        guard case .object(let fields) = body else {
            throw NangoErrorResponse.invalid("invalid_body", "Expected object", path: [])
        }
        let allowedKeys: Set<String> = ["end_user", "organization", "allowed_integrations", "integrations_config_defaults", "overrides", "webhook_url_override", "tags"]
        if let unknown = fields.keys.first(where: { !allowedKeys.contains($0) }) {
            throw NangoErrorResponse.invalid("invalid_body", "Unrecognized key: \(unknown)", path: [unknown])
        }
        if fields["end_user"] == nil, fields["tags"] == nil {
            throw NangoErrorResponse.invalid("invalid_body", "end_user or tags is required", path: ["end_user"])
        }
        if let endUser = fields["end_user"], (endUser["id"]?.string ?? "").isEmpty {
            throw NangoErrorResponse.invalid("invalid_body", "end_user.id is required", path: ["end_user", "id"])
        }
        var allowed: [String]?
        if case .array(let items) = fields["allowed_integrations"] {
            allowed = []
            for (index, item) in items.enumerated() {
                guard let key = item.string, Integration.named(key) != nil else {
                    throw NangoErrorResponse.invalid("invalid_body", "Integration does not exist", path: ["allowed_integrations", String(index)])
                }
                allowed?.append(key)
            }
        }
        var tags = fields["tags"]?.object?.compactMapValues(\.string)
        if let endUser = fields["end_user"] {
            tags = (tags ?? [:]).merging(["end_user_id": endUser["id"]?.string ?? ""]) { old, _ in old }
            if let email = endUser["email"]?.string { tags?["end_user_email"] = email }
        }
        let endUserJSON: JSONValue? = fields["end_user"].map { user in
            .object(["endUserId": user["id"] ?? .null, "endUserEmail": user["email"] ?? .null, "tags": .object([:])])
        }
        return try await sessionAnswer(.init(endUser: endUserJSON, tags: tags, allowedIntegrations: allowed, expiresAt: Self.sessionExpiry()))
    }

    /// `POST /connect/sessions/reconnect`: a session whose Connect UI re-authorises an existing connection, keeping
    /// its id, its creation time and its end user (Nango's `postReconnect.ts`).
    @Sendable func createReconnectSession(_ request: Request, context: Context) async throws -> Response {
        let body = try await Self.jsonBody(request, context: context)
        guard case .object(let fields) = body else {
            throw NangoErrorResponse.invalid("invalid_body", "Expected object", path: [])
        }
        let allowedKeys: Set<String> = ["connection_id", "integration_id", "end_user", "organization", "integrations_config_defaults", "overrides", "webhook_url_override", "tags"]
        if let unknown = fields.keys.first(where: { !allowedKeys.contains($0) }) {
            throw NangoErrorResponse.invalid("invalid_body", "Unrecognized key: \(unknown)", path: [unknown])
        }
        for key in ["connection_id", "integration_id"] where (fields[key]?.string ?? "").isEmpty {
            throw NangoErrorResponse.invalid("invalid_body", "Required", path: [key])
        }
        let connectionId = fields["connection_id"]?.string ?? "", integration = fields["integration_id"]?.string ?? ""
        guard await state.connection(connectionId, integration: integration) != nil else {
            throw NangoErrorResponse(status: .badRequest, code: "invalid_body", message: "ConnectionID or IntegrationId does not exists")
        }
        let tags = fields["tags"]?.object?.compactMapValues(\.string)
        return try await sessionAnswer(.init(endUser: nil, tags: tags, allowedIntegrations: [integration], expiresAt: Self.sessionExpiry(), reconnecting: connectionId))
    }

    static func sessionExpiry() -> Timestamp { Timestamp(micros: Timestamp.now.micros + 30 * 60_000_000) }

    func sessionAnswer(_ session: EmulatorState.ConnectSession) async throws -> Response {
        let token = await state.createSession(session)
        let answer = NangoConnectSession(token: token, connectLink: "\(publicURL)/connect/?session_token=\(token)", expiresAt: session.expiresAt.javascript)
        return try JSONResponse.make(JSONValue.object(["data": .object([
            "token": .string(answer.token), "connect_link": .string(answer.connectLink), "expires_at": .string(answer.expiresAt),
        ])]), status: .created)
    }

    // MARK: Syncs and proxy

    @Sendable func triggerSync(_ request: Request, context: Context) async throws -> Response {
        let body = try await Self.jsonBody(request, context: context)
        guard case .array(let syncs) = body["syncs"] ?? .null, !syncs.isEmpty else {
            throw NangoErrorResponse.invalid("invalid_body", "syncs is required", path: ["syncs"])
        }
        let integrationKey = body["provider_config_key"]?.string ?? request.headers[HTTPField.Name("Provider-Config-Key")!]
        guard let integrationKey, let integration = Integration.named(integrationKey) else {
            throw NangoErrorResponse(status: .badRequest, code: "missing_provider_config_key", message: "Missing provider config key")
        }
        let connectionId = body["connection_id"]?.string ?? request.headers[HTTPField.Name("Connection-Id")!]
        let names = syncs.compactMap { $0.string ?? $0["name"]?.string }
        for name in names where !integration.syncs.contains(where: { $0.name == name }) {
            throw NangoErrorResponse(status: .badRequest, code: "invalid_body", message: "Sync \(name) not found")
        }
        // A triggered run finds no change by itself; it reports it as Nango does for new environments,
        // whose "send a webhook when a sync completes without changes" toggle is on.
        let targets = await state.allConnections().filter {
            $0.integration.key == integration.key && (connectionId == nil || $0.connectionId == connectionId)
        }
        if let connectionId, targets.isEmpty {
            throw NangoErrorResponse(status: .badRequest, code: "invalid_body", message: "Connection \(connectionId) not found")
        }
        for connection in targets {
            for sync in integration.syncs where names.contains(sync.name) {
                if let applied = await state.applyChanges(connection.connectionId, integration: integration.key, model: sync.model, add: 0, update: 0, delete: 0) {
                    await webhooks.send(WebhookPayloads.syncSuccess(
                        connection, model: sync.model, syncName: sync.name, counts: applied.counts, runStart: applied.runStart,
                        firstRun: applied.firstRun))
                }
            }
        }
        return try JSONResponse.make(JSONValue.object(["success": true]))
    }

    @Sendable func proxy(_ request: Request, context: Context) async throws -> Response {
        let (integration, connectionId) = try Self.connectionHeaders(request)
        guard case .connection(let connection) = await state.fetchConnection(connectionId, integration: integration, forceRefresh: false) else {
            throw NangoErrorResponse(status: .badRequest, code: "server_error", message: "Connection not found or credentials could not be refreshed")
        }
        let path = String(request.uri.path.dropFirst("/proxy".count))
        // No real provider is reachable here: answer as a provider would, echoing what Nango would have sent it.
        return try JSONResponse.make(JSONValue.object([
            "provider": .string(connection.integration.provider), "method": .string(request.method.rawValue),
            "path": .string(path), "query": .string(request.uri.query ?? ""),
            "authorized": .bool(true),
        ]))
    }

    /// The JSON body; `strict` refuses a non-JSON `Content-Type` as Nango does (the control API is lenient).
    static func jsonBody(_ request: Request, context: Context, strict: Bool = true) async throws -> JSONValue {
        if strict, let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw NangoErrorResponse(status: .unsupportedMediaType, code: "invalid_content_type", message: "Content-Type header must be application/json")
        }
        let buffer = try await request.body.collect(upTo: 1 << 20)
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
        } catch {
            throw NangoErrorResponse(status: .badRequest, code: "invalid_json", message: "Invalid JSON body")
        }
    }
}
