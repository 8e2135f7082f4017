import Foundation
import Hummingbird
import MarketplaceCore

extension NangoAPI {
    static var allowedSyncStatusParameters: Set<String> { ["syncs", "provider_config_key", "connection_id"] }

    /// `GET /sync/status` (docs/nango.md §2.12): Nango's strict query, its 400s, and one entry per sync asked for.
    /// Each emulated sync has one model, so its record count and latest result name that model only.
    @Sendable func syncStatus(_ request: Request, context: Context) async throws -> Response {
        let query = request.uri.queryParameters
        // zod's issues, as `zodErrorToHTTP` lists them, with no top-level message (`getSyncStatus.ts`).
        var issues: [JSONValue] = []
        for (name, _) in query where !Self.allowedSyncStatusParameters.contains(String(name)) {
            issues.append(.object(["code": "unrecognized_keys", "message": .string("Unrecognized key: \"\(name)\""), "path": .array([])]))
        }
        for key in ["syncs", "provider_config_key"] where query[Substring(key)] == nil {
            issues.append(.object([
                "code": "invalid_type", "message": "Invalid input: expected string, received undefined", "path": .array([.string(key)]),
            ]))
        }
        if let key = query["provider_config_key"], key.isEmpty || key.count > 255 || key.wholeMatch(of: /[a-zA-Z0-9~:.@ _-]+/) == nil {
            issues.append(.object([
                "code": "invalid_format", "message": "Invalid string: must match pattern /^[a-zA-Z0-9~:.@ _-]+$/",
                "path": .array(["provider_config_key"]),
            ]))
        }
        if let id = query["connection_id"], id.isEmpty || id.count > 255 {
            issues.append(.object([
                "code": "invalid_format", "message": "Invalid string: must be 1 to 255 characters", "path": .array(["connection_id"]),
            ]))
        }
        guard issues.isEmpty, let syncs = query["syncs"].map(String.init), let integration = query["provider_config_key"].map(String.init) else {
            throw NangoErrorResponse(status: .badRequest, code: "invalid_query_params", message: nil, extra: ["errors": .array(issues)])
        }
        // `*` is every sync; otherwise `name` or `name::variant`, the variant `base` when left out (`normalizedSyncParams`).
        let wanted: [(name: String, variant: String)]? = syncs == "*" ? nil : syncs.split(separator: ",", omittingEmptySubsequences: false).map {
            let parts = $0.components(separatedBy: "::")
            return (parts[0], parts.count > 1 ? parts[1] : "base")
        }
        var found: [(connectionId: String, streams: [RecordStream])] = []
        if let connectionId = query["connection_id"].map(String.init) {
            guard let streams = await state.syncStreams(connectionId, integration: integration) else {
                throw NangoErrorResponse(status: .badRequest, code: "invalid_body", message: "Connection not found")
            }
            found = [(connectionId, streams)]
        } else {
            // No connection: every connection of the integration; an unknown integration has none.
            for connection in await state.allConnections() where connection.integration.key == integration {
                found.append((connection.connectionId, await state.syncStreams(connection.connectionId, integration: integration) ?? []))
            }
        }
        var answer: [JSONValue] = []
        for (connectionId, streams) in found {
            // Syncs Nango does not have for the connection are left out, not refused (`getSyncStatus`'s `continue`).
            let chosen = wanted.map { wanted in
                wanted.compactMap { identifier in streams.first { $0.sync.name == identifier.name && identifier.variant == "base" } }
            } ?? streams
            answer += chosen.map { Self.syncStatusJSON($0, connectionId: connectionId) }
        }
        return try JSONResponse.make(JSONValue.object(["syncs": .array(answer)]))
    }

    /// One sync as `syncManager.syncStatus` builds it (`packages/shared/lib/services/sync/manager.service.ts`).
    static func syncStatusJSON(_ stream: RecordStream, connectionId: String) -> JSONValue {
        let run = stream.run
        let model = stream.sync.model
        var sync: [String: JSONValue] = [
            "id": .string(stream.syncID), "connection_id": .string(connectionId), "name": .string(stream.sync.name),
            "variant": "base", "type": run.incremental ? "INCREMENTAL" : "INITIAL", "status": .string(run.reported),
            "nextScheduledSyncAt": run.nextDue(every: stream.sync.intervalSeconds).map { .string($0.javascript) } ?? .null,
            "frequency": .string(stream.sync.frequency),
            // A job that failed before saving anything keeps its column's default, `{}`.
            "latestResult": .object(run.result.map { [model: .object([
                "added": .number(Double($0.added)), "updated": .number(Double($0.updated)), "deleted": .number(Double($0.deleted)),
            ])] } ?? [:]),
            "latestExecutionStatus": .string(run.job.rawValue),
            "recordCount": .object([model: .number(Double(stream.recordCount))]),
            "checkpoint": run.checkpoint.map { .object($0) } ?? .null,
        ]
        // A running job's `updated_at` is no end: Nango leaves `finishedAt` undefined, which JSON leaves out.
        if run.job != .running { sync["finishedAt"] = .string(run.finishedAt.javascript) }
        return .object(sync)
    }
}
