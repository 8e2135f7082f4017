import MarketplaceCore
import Storage

/// The JSON Schemas (OpenAPI 3.1, draft 2020-12) of every body the API answers with. Objects list all
/// their fields and forbid others, so a column or field added without a word here fails the conformance test.
enum APISchemas {
    static let string: JSONValue = ["type": "string"]
    static let integer: JSONValue = ["type": "integer"]
    static let boolean: JSONValue = ["type": "boolean"]
    static let dateTime: JSONValue = ["type": "string", "format": "date-time"]
    static let uuid: JSONValue = ["type": "string", "format": "uuid"]

    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
    static func nullable(_ type: String, format: String? = nil) -> JSONValue {
        var schema: [String: JSONValue] = ["type": [.string(type), "null"]]
        if let format { schema["format"] = .string(format) }
        return .object(schema)
    }
    static func array(_ items: JSONValue) -> JSONValue { ["type": "array", "items": items] }
    static func enumeration(_ values: [String]) -> JSONValue { ["type": "string", "enum": .array(values.map(JSONValue.string))] }

    /// A closed object: `required` lists the fields always present; the others may be absent.
    static func object(_ properties: [String: JSONValue], required: [String]? = nil, description: String? = nil) -> JSONValue {
        var schema: [String: JSONValue] = [
            "type": "object", "properties": .object(properties), "additionalProperties": false,
            "required": .array((required ?? properties.keys.sorted()).map(JSONValue.string)),
        ]
        if let description { schema["description"] = .string(description) }
        return .object(schema)
    }

    static func dataList(_ item: String) -> JSONValue { object(["data": array(ref(item))]) }
    static func page(_ item: String) -> JSONValue {
        object(["data": array(ref(item)), "next_cursor": nullable("string")],
               description: "A keyset page; pass `next_cursor` as `cursor` for the next one (null on the last page).")
    }

    static let jobIds: JSONValue = object(["job_ids": array(integer)])

    /// Columns every stored resource row shares, as Postgres' `to_jsonb` prints them.
    static let resourceCommon: [String: JSONValue] = [
        "id": uuid, "external_id": string, "raw": ["description": "The provider's record as Nango served it; only with `include=raw`."],
        "source_created_at": nullable("string", format: "date-time"), "source_updated_at": nullable("string", format: "date-time"),
        "deleted_at": nullable("string", format: "date-time"), "created_at": dateTime, "updated_at": dateTime,
    ]
    static let address: [String: JSONValue] = [
        "address_line1": nullable("string"), "address_line2": nullable("string"), "city": nullable("string"),
        "region": nullable("string"), "postal_code": nullable("string"),
        "country": ["type": ["string", "null"], "description": "ISO 3166-1 alpha-2"],
    ]

    static func resource(_ fields: [String: JSONValue], withAddress: Bool = true, description: String) -> JSONValue {
        rowObject(resourceCommon.merging(withAddress ? address : [:]) { first, _ in first }.merging(fields) { _, new in new },
                  description: description)
    }

    /// A row as Postgres' `to_jsonb` prints it: every column always present (null when empty), `raw` only on request.
    static func rowObject(_ properties: [String: JSONValue], description: String) -> JSONValue {
        object(properties, required: properties.keys.filter { !["raw", "data_as_of", "drift"].contains($0) }.sorted(), description: description)
    }

    static let components: [String: JSONValue] = [
        "Error": object([
            "error": object([
                "code": ["type": "string", "description": "Stable, machine-readable: not_found, unauthorized, rate_limited, invalid_parameter …"],
                "message": string,
                "request_id": ["type": "string", "description": "Also in the X-Request-ID header and in every log line of the request."],
            ]),
        ]),
        "Status": object(["status": string]),
        "HealthDependency": object([
            "status": enumeration(["up", "down"]), "latency_ms": ["type": "number"], "error": string,
            "pool": ["type": "object", "additionalProperties": integer],
            "migrations": object(["applied": integer, "pending": array(string)]),
        ], required: ["status"]),
        "HealthReport": object([
            "status": enumeration(["ok", "degraded", "down"]), "version": string, "uptime_seconds": integer, "started_at": dateTime,
            "checks": ["type": "object", "additionalProperties": ref("HealthDependency")],
            "pipelines": object([
                "status": enumeration(["ok", "error"]), "file": string, "hash": string, "count": integer, "loaded_at": dateTime,
                "errors": array(string),
            ], required: ["status", "file", "count"]),
        ], required: ["status", "checks"]),
        "ConnectSession": object([
            "connect_session_token": string, "connect_url": string, "expires_at": string, "state": string,
            "state_expires_at": dateTime, "integration_id": string, "callback_url": string,
            "browser_nonce": ["type": "string", "description": "Keep it in memory and send it to /api/auth/exchange; a browser that comes back to the callback carries it as a cookie."],
        ]),
        "CompanyToken": object([
            "company": ref("CompanySummary"), "token": ["type": "string", "description": "A company-scoped JWT (HS256)."],
            "token_type": enumeration(["Bearer"]), "expires_in": integer,
        ]),
        "CompanySummary": object([
            "id": uuid, "connection_id": string, "integration_id": string, "provider": string, "external_id": nullable("string"),
            "name": nullable("string"), "status": string, "created_at": dateTime, "updated_at": dateTime,
        ]),
        "WebhookAccepted": object(["status": enumeration(["stored", "duplicate"])]),
        "Company": rowObject(
            address.merging([
                "id": uuid, "connection_id": string, "integration_id": string, "provider": string, "external_id": nullable("string"),
                "name": nullable("string"), "legal_name": nullable("string"), "email": nullable("string"), "phone": nullable("string"),
                "website": nullable("string"), "tax_id": nullable("string"), "currency": nullable("string"),
                "status": enumeration(CompanyStatus.allCases.map(\.rawValue)), "status_reason": nullable("string"),
                "status_changed_at": nullable("string", format: "date-time"), "last_synced_at": nullable("string", format: "date-time"),
                "source_created_at": nullable("string", format: "date-time"), "source_updated_at": nullable("string", format: "date-time"),
                "created_at": dateTime, "updated_at": dateTime, "raw": ["description": "Only with `include=raw`."],
                "credentials_available": ["type": "boolean", "description": "False when Nango shows no credentials (a secret key without the read-credentials scope); records still sync."],
                "data_as_of": [
                    "type": "object", "additionalProperties": nullable("string", format: "date-time"),
                    "description": "Only on `GET /api/companies/{id}`: per Nango model, when a sync last read it to the end (null before one has). Stale dates with a `refresh_failed` status mean the customer must reconnect.",
                ],
                "drift": [
                    "type": "object", "description": "Only on `GET /api/companies/{id}`: per Nango model, the drift check's last mismatch (docs/drift.md).",
                    "additionalProperties": object([
                        "state": enumeration(DriftState.allCases.map(\.rawValue)), "nango_count": integer, "our_count": integer,
                        "detected_at": dateTime, "healed_at": nullable("string", format: "date-time"),
                    ]),
                ],
            ]) { _, new in new },
            description: "A connected company (one Nango connection)."),
        "Location": resource([
            "name": nullable("string"), "kind": nullable("string"), "email": nullable("string"), "phone": nullable("string"),
            "latitude": nullable("number"), "longitude": nullable("number"), "timezone": nullable("string"), "is_active": nullable("boolean"),
        ], description: "A location, normalized: E.164 phones, ISO country codes."),
        "Contact": resource([
            "display_name": nullable("string"), "first_name": nullable("string"), "last_name": nullable("string"),
            "organization": nullable("string"), "title": nullable("string"), "email": nullable("string"), "phone": nullable("string"),
            "mobile": nullable("string"), "is_active": nullable("boolean"),
        ], description: "A contact, normalized: validated e-mail, E.164 phones, ISO country codes."),
        "Product": resource([
            "sku": nullable("string"), "name": nullable("string"), "description": nullable("string"), "kind": nullable("string"),
            "unit_price": nullable("number"), "unit_cost": nullable("number"), "quantity_on_hand": nullable("number"),
            "currency": ["type": ["string", "null"], "description": "ISO 4217"], "taxable": nullable("boolean"), "is_active": nullable("boolean"),
        ], withAddress: false, description: "A product or item; amounts are exact decimals in `currency`."),
        "CompanyPage": page("Company"),
        "LocationPage": page("Location"),
        "ContactPage": page("Contact"),
        "ProductPage": page("Product"),
        "Change": object([
            "id": ["type": "string", "description": "Unique; the same as `version`, as text."],
            "type": enumeration(Resource.allCases.flatMap { resource in
                resource == .companies ? ["company.updated"] : ChangeKind.allCases.map { "\(resource.singular).\($0.rawValue)" }
            }),
            "resource": enumeration(Resource.allCases.map(\.rawValue)),
            "resource_id": ["type": "string", "format": "uuid", "description": "The row's `id`, as the lists render it."],
            "company_id": uuid, "external_id": nullable("string"),
            "version": ["type": "integer", "description": "Grows with each change of one row: drop a change older than one already applied."],
            "occurred_at": dateTime,
            "data": ["oneOf": [ref("Company"), ref("Location"), ref("Contact"), ref("Product")],
                     "description": "The row exactly as its list renders it; for a delete, its last state with `deleted_at` set."],
        ], description: "One committed change of one row."),
        "ChangePage": object([
            "data": array(ref("Change")),
            "next_cursor": ["type": "string", "description": "Always present: resume from it (`after=`), even when `data` is empty."],
            "has_more": ["type": "boolean", "description": "More changes follow at once: read again without waiting."],
        ], description: "Changes after the cursor, oldest first."),
        "SyncAccepted": object([
            "company_id": uuid, "job_ids": array(integer), "models": array(string),
            "nango_triggered": ["type": "boolean", "description": "Whether Nango was asked to run its syncs first (`nango=true`)."],
        ]),
        "TokenSummary": object([
            "company_id": uuid, "integration_id": string, "connection_id": string, "provider": string, "status": string, "auth_type": string,
            "fingerprint": ["type": "string", "description": "A short hash of the access token, never the token."],
            "expires_at": dateTime, "last_refreshed_at": dateTime, "refresh_failures": integer, "last_refresh_error": string,
        ], required: ["company_id", "integration_id", "connection_id", "provider", "status", "auth_type", "refresh_failures"]),
        "SystemHealth": object([
            "health": ref("HealthReport"), "jobs": ["type": "object", "additionalProperties": integer, "description": "Jobs by status, each counted up to 10,000: 10000 means that many or more."],
        ]),
        "WebhookEvent": object([
            "id": integer, "received_at": dateTime, "type": string, "operation": string, "connection_id": string,
            "integration_id": string, "model": string,
            "status": enumeration(WebhookEventStatus.allCases.map(\.rawValue)), "error": string,
        ], required: ["id", "received_at", "type", "status"]),
        "Replayed": object([
            "event_id": integer, "job_id": integer, "outcome": enumeration(["enqueued", "no_job", "invalid"]),
        ], required: ["event_id", "outcome"]),
        "QuarantineEntry": object([
            "id": integer, "pipeline": string, "connection_id": string, "external_id": string,
            "reasons": ["type": "array", "description": "Every reason the record failed validation.",
                        "items": object(["field": nullable("string"), "message": string])],
            "status": enumeration(QuarantineStatus.allCases.map(\.rawValue)),
        ], required: ["id", "pipeline", "connection_id", "reasons", "status"]),
        "SyncState": object([
            "model": string, "cursor": string, "records_fetched": integer, "records_upserted": integer, "records_deleted": integer,
            "records_quarantined": integer, "last_run_at": dateTime, "last_success_at": dateTime, "last_error": string,
            "nango_sync_status": string,
        ], required: ["model", "records_fetched", "records_upserted", "records_deleted", "records_quarantined"]),
        "PipelineRun": object([
            "id": integer, "pipeline": string, "fetched": integer, "upserted": integer, "unchanged": integer, "deleted": integer,
            "quarantined": integer, "outcome": string, "error": string,
            "pruned_skipped": ["type": "integer", "description": "Records Nango had pruned (payload emptied) that were never stored here: skipped."],
        ], required: ["id", "pipeline", "fetched", "upserted", "unchanged", "deleted", "quarantined", "pruned_skipped", "outcome"]),
        "CompanySync": object([
            "company_id": uuid, "integration_id": string, "connection_id": string,
            "status": enumeration(CompanyStatus.allCases.map(\.rawValue)), "models": array(ref("SyncState")),
            "recent_runs": array(ref("PipelineRun")),
        ]),
        "Pipelines": object([
            "file": string, "hash": string, "loaded_at": dateTime,
            "pipelines": array(object([
                "name": string, "model": string,
                "integration": ["type": ["string", "null"], "description": "Nango's provider config key, when the pipeline matches by it."],
                "provider": ["type": ["string", "null"], "description": "The provider, when the pipeline matches every integration key of it."],
                "full_resync_seconds": ["type": ["integer", "null"], "description": "How often the whole stream is re-read to find hard deletes; null: off."],
                "target": enumeration(["companies", "locations", "contacts", "products"]), "enabled": boolean, "page_size": integer,
            ])),
            "errors": ["type": "array", "items": string, "description": "`FILE:LINE:COLUMN: message` of a refused edit; the last good file runs."],
            "errors_at": dateTime,
        ], required: ["file", "pipelines"]),
        "Job": object([
            "id": integer, "kind": string, "status": enumeration(JobStatus.allCases.map(\.rawValue)),
            "attempts": integer, "max_attempts": integer, "run_at": dateTime, "last_error": string, "concurrency_key": string,
        ], required: ["id", "kind", "status", "attempts", "max_attempts", "run_at"]),
    ].merging(outboundComponents) { first, _ in first }
}
