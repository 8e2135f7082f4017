import MarketplaceCore

/// Webhook bodies exactly as docs/nango.md §1.5–1.7 lists their fields. Optional fields are left out, not null.
enum WebhookPayloads {
    static func auth(
        _ connection: EmulatedConnection, operation: String, success: Bool, environment: String,
        error: (type: String, description: String)? = nil
    ) -> JSONValue {
        var body: [String: JSONValue] = [
            "from": "nango", "type": "auth", "connectionId": .string(connection.connectionId),
            "providerConfigKey": .string(connection.integration.key), "provider": .string(connection.integration.provider),
            "authMode": "OAUTH2", "environment": .string(environment), "operation": .string(operation), "success": .bool(success),
        ]
        // `tags` is NOT NULL (default `{}`) and always sent; failure webhooks carry no `endUser` (docs/nango.md §1.5).
        body["tags"] = .object((connection.tags ?? [:]).mapValues(JSONValue.string))
        if success, let endUser = connection.endUser { body["endUser"] = endUser }
        if let error { body["error"] = .object(["type": .string(error.type), "description": .string(error.description)]) }
        return .object(body)
    }

    static let refreshFailureDescription =
        "The external API returned an error when trying to refresh the access token. Please try again later."

    /// The auth `refresh` failure Nango sends when a token can no longer be refreshed.
    static func refreshFailure(_ connection: EmulatedConnection, environment: String) -> JSONValue {
        auth(connection, operation: "refresh", success: false, environment: environment,
             error: ("refresh_token_external_error", refreshFailureDescription))
    }

    static func syncSuccess(
        _ connection: EmulatedConnection, model: String, syncName: String, counts: RecordStream.ChangeCounts,
        runStart: Timestamp, firstRun: Bool, checkpoints: JSONValue? = nil
    ) -> JSONValue {
        var body: [String: JSONValue] = [
            "from": "nango", "type": "sync", "connectionId": .string(connection.connectionId),
            "providerConfigKey": .string(connection.integration.key), "syncName": .string(syncName), "syncVariant": "base",
            "model": .string(model), "syncType": firstRun ? "INITIAL" : "INCREMENTAL", "success": true,
            "responseResults": .object([
                "added": .number(Double(counts.added)), "updated": .number(Double(counts.updated)),
                "deleted": .number(Double(counts.deleted)),
            ]),
            "modifiedAfter": .string(runStart.javascript), "queryTimeStamp": .string(runStart.javascript),
        ]
        // Left out when the sync keeps none (docs/nango.md §1.6).
        if let checkpoints { body["checkpoints"] = checkpoints }
        return .object(body)
    }

    static func syncFailure(_ connection: EmulatedConnection, syncName: String, models: [String], startedAt: Timestamp) -> JSONValue {
        .object([
            "from": "nango", "type": "sync", "connectionId": .string(connection.connectionId),
            "providerConfigKey": .string(connection.integration.key), "syncName": .string(syncName), "syncVariant": "base",
            "model": .string(models.joined(separator: ",")), "syncType": "INCREMENTAL", "success": false,
            "error": .object(["type": "script_error", "description": "Request failed with status code 401"]),
            "startedAt": .string(startedAt.javascript), "failedAt": .string(Timestamp.now.javascript),
        ])
    }

    /// An async action finished (docs/nango.md §1.8).
    static func asyncAction(_ connection: EmulatedConnection, id: String) -> JSONValue {
        .object([
            "from": "nango", "type": "async_action", "connectionId": .string(connection.connectionId),
            "providerConfigKey": .string(connection.integration.key),
            "payload": .object(["id": .string(id), "statusUrl": .string("/action/\(id)")]),
        ])
    }

    /// Wrapped per connection, or the provider's raw payload when no connection matched.
    static func forward(_ connection: EmulatedConnection?, provider: String, integration: String, payload: JSONValue) -> JSONValue {
        guard let connection else { return payload }
        return .object([
            "from": .string(provider), "type": "forward", "connectionId": .string(connection.connectionId),
            "providerConfigKey": .string(integration), "payload": payload,
        ])
    }
}
