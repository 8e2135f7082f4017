import Foundation
import HTTPTypes
import Hummingbird
import MarketplaceCore

/// The emulator's own API for tests and demos, under `/_emulator` (not part of Nango's surface).
struct ControlAPI<Context: RequestContext>: Sendable {
    let state: EmulatorState
    let webhooks: WebhookSender
    let environment: String

    func register(on group: RouterGroup<Context>) {
        group.get("/state", use: summary)
        group.post("/connections", use: createConnection)
        group.post("/connections/:connectionId/changes", use: applyChanges)
        group.put("/connections/:connectionId/syncs", use: setSyncStatus)
        group.post("/connections/:connectionId/sync-failure", use: syncFailure)
        group.post("/connections/:connectionId/prune", use: prune)
        group.post("/connections/:connectionId/async-action", use: asyncAction)
        group.post("/connections/:connectionId/poison", use: poison)
        group.post("/connections/:connectionId/hard-delete", use: hardDelete)
        group.post("/connections/:connectionId/restart", use: restart)
        group.post("/connections/:connectionId/expire-token", use: expireToken)
        group.post("/connections/:connectionId/revoke", use: revoke)
        group.post("/forward", use: forward)
        group.get("/faults") { _, _ in try JSONResponse.make(await state.faults) }
        group.put("/faults", use: setFaults)
        group.delete("/faults") { _, _ in
            await state.setFaults(Faults())
            return try JSONResponse.make(await state.faults)
        }
        group.get("/webhooks") { _, _ in try JSONResponse.make(webhooks.deliveries) }
        group.put("/rate-limit", use: setRateLimit)
    }

    func integration(_ body: JSONValue) throws -> Integration {
        guard let key = body["provider_config_key"]?.string else {
            throw NangoErrorResponse.invalid("invalid_body", "provider_config_key is required", path: ["provider_config_key"])
        }
        guard let integration = Integration.named(key) else {
            throw NangoErrorResponse.invalid("invalid_body", "unknown integration \(key); known: \(Integration.all.map(\.key).joined(separator: ", "))", path: ["provider_config_key"])
        }
        return integration
    }

    @Sendable func summary(_ request: Request, context: Context) async throws -> Response {
        var connections: [JSONValue] = []
        for connection in await state.allConnections() {
            // Per model, the late records no incremental reader will see (only a read from no cursor finds them).
            let streams = await state.syncStreams(connection.connectionId, integration: connection.integration.key) ?? []
            connections.append(.object([
                "connection_id": .string(connection.connectionId), "provider_config_key": .string(connection.integration.key),
                "models": .array(connection.integration.syncs.map { .string($0.model) }), "revoked": .bool(connection.revoked),
                "late_records": .object(Dictionary(uniqueKeysWithValues: streams.map { ($0.sync.model, .number(Double($0.hiddenLateCount))) })),
            ]))
        }
        return try JSONResponse.make(JSONValue.object([
            "connections": .array(connections), "records_per_model": .number(Double(state.recordsPerModel)),
            "integrations": .array(Integration.all.map { .string($0.key) }),
            "records_requests": .number(Double(await state.recordsRequests)),
            "rate_limited_answers": .number(Double(await state.rateLimitedAnswers)),
        ]))
    }

    /// `{provider_config_key, connection_id?, tags?, end_user?}` → the connection, plus the auth `creation` webhook
    /// (`override` when it existed).
    @Sendable func createConnection(_ request: Request, context: Context) async throws -> Response {
        let body = try await NangoAPI<Context>.jsonBody(request, context: context, strict: false)
        let integration = try integration(body)
        let connectionId = body["connection_id"]?.string ?? UUID().lowercasedString
        let (connection, created) = await state.createConnection(
            integration: integration, connectionId: connectionId, tags: body["tags"]?.object?.compactMapValues(\.string),
            endUser: body["end_user"])
        let delivery = await webhooks.send(WebhookPayloads.auth(
            connection, operation: created ? "creation" : "override", success: true, environment: environment))
        return try JSONResponse.make(JSONValue.object([
            "connection_id": .string(connection.connectionId), "provider_config_key": .string(integration.key),
            "webhook_delivery": .number(Double(delivery)),
        ]), status: created ? .created : .ok)
    }

    /// `{provider_config_key, model, add, update, delete, late?}` → applied counts, plus the sync webhook with them.
    /// `late` of the added records are late commits: behind every cursor, so incremental reads never return them,
    /// while a read from no cursor does and they count at Nango (`GET /sync/status`'s `recordCount`).
    @Sendable func applyChanges(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        let body = try await NangoAPI<Context>.jsonBody(request, context: context, strict: false)
        let integration = try integration(body)
        guard let model = body["model"]?.string, integration.sync(forModel: model) != nil else {
            throw NangoErrorResponse.invalid("invalid_body", "model must be one of \(integration.syncs.map(\.model).joined(separator: ", "))", path: ["model"])
        }
        func count(_ key: String) throws -> Int {
            guard let value = body[key] else { return 0 }
            guard case .number(let number) = value, number >= 0, number <= 1_000_000, number.rounded() == number else {
                throw NangoErrorResponse.invalid("invalid_body", "\(key) must be a whole number from 0 to 1000000", path: [key])
            }
            return Int(number)
        }
        let add = try count("add"), update = try count("update"), delete = try count("delete"), late = try count("late")
        guard late <= add else {
            throw NangoErrorResponse.invalid("invalid_body", "late must not exceed add", path: ["late"])
        }
        guard let connection = await state.connection(connectionId, integration: integration.key),
            let applied = await state.applyChanges(
                connectionId, integration: integration.key, model: model, add: add, update: update, delete: delete, late: late)
        else {
            throw NangoErrorResponse(status: .notFound, code: "not_found", message: "No connection \(connectionId) for \(integration.key)")
        }
        let delivery = await webhooks.send(WebhookPayloads.syncSuccess(
            connection, model: model, syncName: applied.syncName, counts: applied.counts, runStart: applied.runStart,
            firstRun: applied.firstRun))
        return try JSONResponse.make(JSONValue.object([
            "responseResults": .object(["added": .number(Double(applied.counts.added)), "updated": .number(Double(applied.counts.updated)),
                                        "deleted": .number(Double(applied.counts.deleted))]),
            "modifiedAfter": .string(applied.runStart.javascript), "webhook_delivery": .number(Double(delivery)),
            "late": .number(Double(late)),
        ]))
    }

    /// `{provider_config_key, model, status, finished_at?}`: what `GET /sync/status` reports for the model's sync
    /// (`RUNNING`, `SUCCESS`, `PAUSED`, `STOPPED`, `ERROR`) and when its latest run ended (RFC 3339). Without
    /// `finished_at` the end stays, except that a run leaving `RUNNING` ends now. Answers the sync as reported.
    @Sendable func setSyncStatus(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        let body = try await NangoAPI<Context>.jsonBody(request, context: context, strict: false)
        let integration = try integration(body)
        let model = try model(body, of: integration)
        guard let status = body["status"]?.string, SyncRun.reportable.contains(status) else {
            throw NangoErrorResponse.invalid(
                "invalid_body", "status must be one of \(SyncRun.reportable.sorted().joined(separator: ", "))", path: ["status"])
        }
        var finishedAt: Timestamp?
        if let text = body["finished_at"]?.string {
            guard let parsed = Timestamp(parsing: text) else {
                throw NangoErrorResponse.invalid("invalid_body", "finished_at must be an RFC 3339 date", path: ["finished_at"])
            }
            finishedAt = parsed
        }
        guard let stream = await state.setSyncStatus(connectionId, integration: integration.key, model: model, status: status, finishedAt: finishedAt) else {
            throw NangoErrorResponse(status: .notFound, code: "not_found", message: "No connection \(connectionId) for \(integration.key)")
        }
        return try JSONResponse.make(NangoAPI<Context>.syncStatusJSON(stream, connectionId: connectionId))
    }

    /// `{provider_config_key, model, older_than?}`: Nango's pruning of records not updated since `older_than`
    /// (default: now, so every record).
    @Sendable func prune(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        let body = try await NangoAPI<Context>.jsonBody(request, context: context, strict: false)
        let integration = try integration(body)
        let model = try model(body, of: integration)
        var cutoff = Timestamp.now
        if let text = body["older_than"]?.string {
            guard let parsed = Timestamp(parsing: text) else {
                throw NangoErrorResponse.invalid("invalid_body", "older_than must be an ISO 8601 date", path: ["older_than"])
            }
            cutoff = parsed
        }
        guard let count = await state.prune(connectionId, integration: integration.key, model: model, olderThan: cutoff) else {
            throw NangoErrorResponse(status: .notFound, code: "not_found", message: "No connection \(connectionId) for \(integration.key)")
        }
        return try JSONResponse.make(JSONValue.object(["pruned": .number(Double(count))]))
    }

    /// `{provider_config_key, model, ids? | count?}`: records removed outright, as emptying Nango's cache or its
    /// 60-day auto-delete does; they never come back as DELETED.
    @Sendable func hardDelete(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        let body = try await NangoAPI<Context>.jsonBody(request, context: context, strict: false)
        let integration = try integration(body)
        let model = try model(body, of: integration)
        let ids: [String]? = if case .array(let items)? = body["ids"] { items.compactMap(\.string) } else { nil }
        let count = body["count"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } } ?? 0
        guard let removed = await state.hardDelete(connectionId, integration: integration.key, model: model, ids: ids, count: count) else {
            throw NangoErrorResponse(status: .notFound, code: "not_found", message: "No connection \(connectionId) for \(integration.key)")
        }
        return try JSONResponse.make(JSONValue.object(["deleted": .array(removed.map(JSONValue.string))]))
    }

    /// `{provider_config_key, model, drop?}`: Nango starts the model's sync over. `drop` live records are removed
    /// outright (an emptied cache: they never come back as DELETED), then the run's success webhook says it started
    /// from scratch: `checkpoints.from` is null (docs/nango.md §1.6). Answers the dropped ids.
    @Sendable func restart(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        let body = try await NangoAPI<Context>.jsonBody(request, context: context, strict: false)
        let integration = try integration(body)
        let model = try model(body, of: integration)
        var drop = 0
        if let value = body["drop"] {
            guard case .number(let number) = value, number >= 0, number <= 1_000_000, number.rounded() == number else {
                throw NangoErrorResponse.invalid("invalid_body", "drop must be a whole number from 0 to 1000000", path: ["drop"])
            }
            drop = Int(number)
        }
        guard let connection = await state.connection(connectionId, integration: integration.key),
              let restart = await state.restart(connectionId, integration: integration.key, model: model, drop: drop)
        else {
            throw NangoErrorResponse(status: .notFound, code: "not_found", message: "No connection \(connectionId) for \(integration.key)")
        }
        // The run from scratch saved every record it found as new.
        let delivery = await webhooks.send(WebhookPayloads.syncSuccess(
            connection, model: model, syncName: restart.syncName, counts: .init(added: restart.live, updated: 0, deleted: 0),
            runStart: restart.runStart, firstRun: restart.firstRun,
            checkpoints: .object(["from": .null, "to": .object(["updated_after": .string(restart.runStart.javascript)])])))
        return try JSONResponse.make(JSONValue.object([
            "dropped": .array(restart.dropped.map(JSONValue.string)), "webhook_delivery": .number(Double(delivery)),
        ]))
    }

    func model(_ body: JSONValue, of integration: Integration) throws -> String {
        guard let model = body["model"]?.string, integration.sync(forModel: model) != nil else {
            throw NangoErrorResponse.invalid("invalid_body", "model must be one of \(integration.syncs.map(\.model).joined(separator: ", "))", path: ["model"])
        }
        return model
    }

    /// `{provider_config_key, model, kind}`: one live record changed to hold what Postgres cannot (`nul`: U+0000 in a
    /// string; `lone_surrogate`: a `\\ud800` escape; `huge_number`: 1e400). Answers the record's id.
    @Sendable func poison(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        let body = try await NangoAPI<Context>.jsonBody(request, context: context, strict: false)
        let integration = try integration(body)
        let model = try model(body, of: integration)
        guard let kind = body["kind"]?.string.flatMap(EmulatorState.Poison.init(rawValue:)) else {
            throw NangoErrorResponse.invalid(
                "invalid_body", "kind must be one of \(EmulatorState.Poison.allCases.map(\.rawValue).joined(separator: ", "))", path: ["kind"])
        }
        guard let id = await state.poison(connectionId, integration: integration.key, model: model, kind: kind) else {
            throw NangoErrorResponse(status: .notFound, code: "not_found", message: "No live record for \(connectionId)")
        }
        return try JSONResponse.make(JSONValue.object(["id": .string(id)]))
    }

    /// `{provider_config_key}`: an async action finished; its completion webhook.
    @Sendable func asyncAction(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        let integration = try integration(try await NangoAPI<Context>.jsonBody(request, context: context, strict: false))
        guard let connection = await state.connection(connectionId, integration: integration.key) else {
            throw NangoErrorResponse(status: .notFound, code: "not_found", message: "No such connection")
        }
        let id = UUID().lowercasedString
        let delivery = await webhooks.send(WebhookPayloads.asyncAction(connection, id: id))
        return try JSONResponse.make(JSONValue.object(["id": .string(id), "webhook_delivery": .number(Double(delivery))]))
    }

    @Sendable func syncFailure(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        let body = try await NangoAPI<Context>.jsonBody(request, context: context, strict: false)
        let integration = try integration(body)
        let syncName = body["sync"]?.string ?? integration.syncs[0].name
        guard let sync = integration.syncs.first(where: { $0.name == syncName }),
            let connection = await state.connection(connectionId, integration: integration.key)
        else {
            throw NangoErrorResponse(status: .notFound, code: "not_found", message: "No such connection or sync")
        }
        await state.failRun(connectionId, integration: integration.key, model: sync.model)
        let delivery = await webhooks.send(WebhookPayloads.syncFailure(
            connection, syncName: sync.name, models: [sync.model], startedAt: connection.createdAt))
        return try JSONResponse.make(JSONValue.object(["webhook_delivery": .number(Double(delivery))]))
    }

    @Sendable func expireToken(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        let integration = try integration(try await NangoAPI<Context>.jsonBody(request, context: context, strict: false))
        guard await state.expireToken(connectionId, integration: integration.key) else {
            throw NangoErrorResponse(status: .notFound, code: "not_found", message: "No such connection")
        }
        return try JSONResponse.make(JSONValue.object(["expired": true]))
    }

    /// The provider revokes the grant: the next refresh fails, with Nango's auth `refresh` failure webhook.
    @Sendable func revoke(_ request: Request, context: Context) async throws -> Response {
        let connectionId = try context.parameters.require("connectionId")
        let integration = try integration(try await NangoAPI<Context>.jsonBody(request, context: context, strict: false))
        guard let connection = await state.revoke(connectionId, integration: integration.key) else {
            throw NangoErrorResponse(status: .notFound, code: "not_found", message: "No such connection")
        }
        let delivery = await webhooks.send(WebhookPayloads.refreshFailure(connection, environment: environment))
        return try JSONResponse.make(JSONValue.object(["revoked": true, "webhook_delivery": .number(Double(delivery))]))
    }

    /// `{provider_config_key, connection_id?, payload}`: a provider webhook forwarded by Nango, wrapped when the
    /// connection is known, raw otherwise (docs/nango.md §1.7).
    @Sendable func forward(_ request: Request, context: Context) async throws -> Response {
        let body = try await NangoAPI<Context>.jsonBody(request, context: context, strict: false)
        let integration = try integration(body)
        let connection = await body["connection_id"]?.string.asyncMap { await state.connection($0, integration: integration.key) } ?? nil
        let delivery = await webhooks.send(WebhookPayloads.forward(
            connection, provider: integration.provider, integration: integration.key, payload: body["payload"] ?? .object([:])))
        return try JSONResponse.make(JSONValue.object(["wrapped": .bool(connection != nil), "webhook_delivery": .number(Double(delivery))]))
    }

    /// `{limit, window_seconds}`: Nango's fixed window, shortened so a test meets its end within seconds.
    @Sendable func setRateLimit(_ request: Request, context: Context) async throws -> Response {
        let body = try await NangoAPI<Context>.jsonBody(request, context: context, strict: false)
        guard case .number(let limit)? = body["limit"], limit >= 1, limit <= 10_000_000, limit.rounded() == limit else {
            throw NangoErrorResponse.invalid("invalid_body", "limit must be a whole number from 1", path: ["limit"])
        }
        let window = body["window_seconds"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? 60
        guard window >= 1, window <= 3600 else {
            throw NangoErrorResponse.invalid("invalid_body", "window_seconds must be from 1 to 3600", path: ["window_seconds"])
        }
        await state.setRateLimit(Int(limit), windowSeconds: window)
        return try JSONResponse.make(JSONValue.object(["limit": .number(limit), "window_seconds": .number(window)]))
    }

    @Sendable func setFaults(_ request: Request, context: Context) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 1 << 16)
        let faults: Faults
        do {
            faults = try JSONDecoder().decode(Faults.self, from: Data(buffer.readableBytesView))
        } catch {
            throw NangoErrorResponse(status: .badRequest, code: "invalid_body", message: "faults: \(error)")
        }
        await state.setFaults(faults)
        return try JSONResponse.make(faults)
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
