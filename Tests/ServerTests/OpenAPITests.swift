import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingest
import Logging
import MarketplaceCore
import Nango
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Server

/// The OpenAPI document against the server: every registered route is in it and every route in it is
/// registered, real answers of every operation match their documented schema, and a standard validator accepts it.
@Suite(.timeLimit(.minutes(10))) struct OpenAPITests {
    static let document = APIDocument.render()
    static let validator = SchemaValidator(document: document)

    /// `Router.routes` prints captures as `{id}`, as OpenAPI does.
    static func registeredRoutes(_ router: Router<AppRequestContext>) -> Set<String> {
        Set(router.routes.map { route in
            let path = route.path.description
            return "\(route.method.rawValue) \(path.hasPrefix("/") ? path : "/" + path)"
        })
    }

    @Test func everyRegisteredRouteIsDocumentedAndEveryDocumentedOneRegistered() async throws {
        try await TestDatabase.with { configuration in
            let router = buildRouter(try await TestApp.dependencies(database: configuration))
            // The console's HTML pages and forms are not the JSON API: docs/console.md documents them.
            let all = Self.registeredRoutes(router)
            let registered = all.filter { !$0.split(separator: " ")[1].hasPrefix("/console") }
            #expect(all.count - registered.count > 20, "the console's routes are registered")
            let documented = Set(APIDocument.operations.map { "\($0.method.rawValue) \($0.path)" })
            #expect(registered.subtracting(documented).sorted() == [], "registered but not in the OpenAPI document")
            #expect(documented.subtracting(registered).sorted() == [], "in the OpenAPI document but not registered")
            #expect(registered.count > 25)
        }
    }

    @Test func operationIdsAreUniqueAndEveryReferenceResolves() throws {
        let ids = APIDocument.operations.map(\.operationId)
        #expect(Set(ids).count == ids.count)
        let text = APIDocument.json
        for name in APISchemas.components.keys { #expect(text.contains("\"#/components/schemas/\(name)\""), "\(name) is never used") }
        var references: [String] = []
        var rest = Substring(text)
        while let range = rest.range(of: "\"#/components/schemas/") {
            rest = rest[range.upperBound...]
            references.append(String(rest.prefix { $0 != "\"" }))
        }
        #expect(!references.isEmpty)
        for reference in Set(references) { #expect(APISchemas.components[reference] != nil, "\(reference)") }
    }

    @Test func theValidatorRejectsWhatTheSchemaForbids() {
        let schema = APISchemas.ref("Job")
        let good: JSONValue = ["id": 1, "kind": "sync.run", "status": "queued", "attempts": 0, "max_attempts": 5, "run_at": "2026-01-01T00:00:00Z"]
        #expect(Self.validator.errors(good, against: schema) == [])
        var missing = good.object!
        missing["kind"] = nil
        #expect(Self.validator.errors(.object(missing), against: schema) == ["$: missing required 'kind'"])
        var extra = good.object!
        extra["token"] = "secret"
        #expect(Self.validator.errors(.object(extra), against: schema) == ["$: 'token' is not in the schema"])
        var wrong = good.object!
        wrong["status"] = "lost"
        wrong["attempts"] = 1.5
        #expect(Self.validator.errors(.object(wrong), against: schema).count == 2)
        #expect(Self.validator.errors(["data": [1]], against: APISchemas.dataList("Job")) == ["$.data[0]: expected object, found number"])
    }

    /// One real request per operation (several for some), each answer held against the document:
    /// its status must be documented for the operation and its body must match that status's schema.
    @Test func everyOperationAnswersAsDocumented() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                let seeded = try await CompaniesAPITests.seed(database, contacts: 3)
                let logger = TestEnvironment.logger
                let a = seeded.a
                try await database.query("""
                    INSERT INTO locations (company_id, external_id, name, country, latitude, content_hash, raw, source_updated_at)
                    VALUES (\(a), 'l-1', 'Main office', 'DE', 52.5, 'h', '{"id":"l-1"}', now())
                    """, logger: logger)
                try await database.query("""
                    INSERT INTO products (company_id, external_id, sku, name, unit_price, currency, content_hash, raw, source_updated_at)
                    VALUES (\(a), 'p-1', 'SKU-1', 'Widget', 12.50, 'EUR', 'h', '{"id":"p-1"}', now())
                    """, logger: logger)
                try await database.query("""
                    INSERT INTO sync_state (connection_id, model, integration_id, company_id, cursor, records_fetched, last_run_at)
                    VALUES ('conn-a', 'Contact', 'hubspot', \(a), 'cursor-1', 3, now())
                    """, logger: logger)
                try await database.query("""
                    INSERT INTO pipeline_runs (pipeline, company_id, connection_id, model, fetched, upserted, outcome)
                    VALUES ('hubspot-contacts', \(a), 'conn-a', 'Contact', 3, 3, 'succeeded')
                    """, logger: logger)
                try await database.query("""
                    INSERT INTO quarantine (pipeline, company_id, connection_id, model, external_id, record_key, reasons, raw)
                    VALUES ('hubspot-contacts', \(a), 'conn-a', 'Contact', 'c-bad', 'c-bad', '[{"field":"email","message":"has no @"}]', '{}')
                    """, logger: logger)
                try await database.query("""
                    INSERT INTO connection_credentials (company_id, auth_type, access_token_sealed, token_fingerprint, expires_at)
                    VALUES (\(a), 'OAUTH2', '\\x0102'::bytea, 'abcdef0123456789', now() + interval '10 minutes')
                    """, logger: logger)
                let deadJob = try await database.query("""
                    INSERT INTO jobs (kind, payload, status, attempts, max_attempts, last_error) VALUES ('sync.run', '{}', 'dead', 5, 5, 'boom') RETURNING id
                    """, logger: logger)
                let deadJobId = try deadJob[0].decode(Int64.self)

                let app = buildApplication(try await TestApp.dependencies(database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                try await app.test(.router) { client in
                    var exercised: Set<String> = []
                    func check(_ method: HTTPRequest.Method, _ uri: String, _ template: String, headers: HTTPFields = [:], body: String? = nil,
                               expect status: HTTPResponse.Status) async throws -> JSONValue? {
                        let response = try await client.execute(
                            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
                        let operation = try #require(APIDocument.operation(method, template), "\(method) \(template) is not documented")
                        exercised.insert(operation.operationId)
                        #expect(response.status == status, "\(method) \(uri): \(String(buffer: response.body))")
                        guard let answer = operation.answer(for: response.status.code) else {
                            Issue.record("\(method) \(uri) answered \(response.status.code), which \(operation.operationId) does not document")
                            return nil
                        }
                        #expect(response.headers[.xRequestID] != nil, "\(uri)")
                        for name in answer.headers.keys where name != "Retry-After" {
                            #expect(response.headers[HTTPField.Name(name)!] != nil, "\(method) \(uri): documented header \(name) missing")
                        }
                        guard let schema = answer.schema else { return nil }
                        #expect(response.headers[.contentType]?.hasPrefix(answer.contentType) == true, "\(uri)")
                        let value = try JSONValue.parse(response.body.readableBytesView)
                        let errors = Self.validator.errors(value, against: schema)
                        #expect(errors == [], "\(method) \(uri) → \(response.status.code)")
                        return value
                    }
                    let bearer = CompaniesAPITests.bearer(seeded.tokenA)
                    let admin = CompaniesAPITests.bearer(seeded.admin)
                    let adminToken = AdminEndpointsTests.token

                    _ = try await check(.get, "/health", "/health", expect: .ok)
                    _ = try await check(.get, "/health/live", "/health/live", expect: .ok)
                    _ = try await check(.get, "/health/ready", "/health/ready", expect: .ok)
                    _ = try await check(.get, "/health/detailed", "/health/detailed", expect: .ok)
                    _ = try await check(.get, "/metrics", "/metrics", expect: .ok)
                    let served = try await check(.get, "/openapi.json", "/openapi.json", expect: .ok)
                    #expect(served == Self.document)

                    _ = try await check(.get, "/api/auth/oauth-url?connection_id=acme", "/api/auth/oauth-url", expect: .badRequest)
                    _ = try await check(.get, "/api/auth/callback?state=forged&connection_id=x", "/api/auth/callback", expect: .badRequest)
                    _ = try await check(.post, "/api/auth/exchange", "/api/auth/exchange", body: "{", expect: .badRequest)

                    let webhook = WebhookTests.syncBody
                    _ = try await check(.post, "/webhooks/nango", "/webhooks/nango", headers: WebhookTests.headers(webhook), body: webhook, expect: .ok)
                    _ = try await check(.post, "/webhooks/nango", "/webhooks/nango", headers: WebhookTests.headers(webhook), body: webhook, expect: .ok)
                    _ = try await check(.post, "/webhooks/nango", "/webhooks/nango", headers: WebhookTests.headers(webhook, key: "wrong"), body: webhook,
                                        expect: .unauthorized)
                    _ = try await check(.post, "/webhooks/nango", "/webhooks/nango", headers: WebhookTests.headers("{not json"), body: "{not json",
                                        expect: .badRequest)

                    let list = try await check(.get, "/api/companies", "/api/companies", headers: admin, expect: .ok)
                    #expect(list?["data"].flatMap { if case .array(let items) = $0 { items.count } else { nil } } == 2)
                    _ = try await check(.get, "/api/companies?include=raw&sort=-name", "/api/companies", headers: admin, expect: .ok)
                    _ = try await check(.get, "/api/companies?limit=0", "/api/companies", headers: bearer, expect: .badRequest)
                    _ = try await check(.get, "/api/companies", "/api/companies", expect: .unauthorized)
                    _ = try await check(.get, "/api/companies/\(a)", "/api/companies/{id}", headers: bearer, expect: .ok)
                    _ = try await check(.get, "/api/companies/\(seeded.b)", "/api/companies/{id}", headers: bearer, expect: .notFound)
                    let company = try await client.execute(uri: "/api/companies/\(a)", method: .get, headers: bearer)
                    var conditional = bearer
                    let etag: String = try #require(company.headers[.eTag])
                    conditional[.ifNoneMatch] = etag
                    _ = try await check(.get, "/api/companies/\(a)", "/api/companies/{id}", headers: conditional, expect: .notModified)
                    for (kind, count) in [("locations", 1), ("contacts", 3), ("products", 1)] {
                        let page = try await check(.get, "/api/companies/\(a)/\(kind)?limit=2", "/api/companies/{id}/\(kind)", headers: bearer, expect: .ok)
                        if case .array(let items)? = page?["data"] { #expect(items.count == min(count, 2), "\(kind)") }
                        _ = try await check(.get, "/api/companies/\(a)/\(kind)?include=raw&include_deleted=true", "/api/companies/{id}/\(kind)",
                                            headers: bearer, expect: .ok)
                        _ = try await check(.get, "/api/companies/\(a)/\(kind)?cursor=forged", "/api/companies/{id}/\(kind)", headers: bearer,
                                            expect: .badRequest)
                    }
                    let changes = try await check(.get, "/api/companies/\(a)/changes?after=now", "/api/companies/{id}/changes", headers: bearer, expect: .ok)
                    let cursor = try #require(changes?["next_cursor"]?.string)
                    _ = try await check(.get, "/api/companies/\(a)/changes?after=\(cursor)&limit=1000&resources=contacts,companies", "/api/companies/{id}/changes",
                                        headers: bearer, expect: .ok)
                    _ = try await check(.get, "/api/companies/\(a)/changes", "/api/companies/{id}/changes", headers: bearer, expect: .badRequest)
                    _ = try await check(.get, "/api/companies/\(seeded.b)/changes?after=now", "/api/companies/{id}/changes", headers: bearer, expect: .notFound)
                    _ = try await check(.get, "/api/changes?after=now", "/api/changes", headers: admin, expect: .ok)
                    _ = try await check(.get, "/api/changes?after=\(cursor)", "/api/changes", headers: admin, expect: .badRequest)
                    _ = try await check(.get, "/api/changes?after=now", "/api/changes", headers: bearer, expect: .forbidden)
                    _ = try await check(.post, "/api/companies/\(a)/sync", "/api/companies/{id}/sync", headers: bearer, expect: .accepted)
                    _ = try await check(.post, "/api/companies/\(seeded.b)/sync", "/api/companies/{id}/sync", headers: bearer, expect: .notFound)

                    _ = try await check(.get, "/api/admin/tokens", "/api/admin/tokens", expect: .unauthorized)
                    _ = try await check(.get, "/api/admin/tokens", "/api/admin/tokens", headers: adminToken, expect: .ok)
                    _ = try await check(.post, "/api/admin/tokens/refresh-all", "/api/admin/tokens/refresh-all", headers: adminToken, expect: .accepted)
                    _ = try await check(.get, "/api/admin/system/health", "/api/admin/system/health", headers: adminToken, expect: .ok)
                    let events = try await check(.get, "/api/admin/webhook-events?type=sync", "/api/admin/webhook-events", headers: adminToken, expect: .ok)
                    let eventId = try #require(events?["data"].flatMap { if case .array(let items) = $0 { items.first?["id"] } else { nil } })
                    _ = try await check(.get, "/api/admin/webhook-events?since=yesterday", "/api/admin/webhook-events", headers: adminToken,
                                        expect: .badRequest)
                    _ = try await check(.post, "/api/admin/webhook-events/\(eventId.jsonText)/replay", "/api/admin/webhook-events/{id}/replay",
                                        headers: adminToken, expect: .accepted)
                    _ = try await check(.post, "/api/admin/webhook-events/999999/replay", "/api/admin/webhook-events/{id}/replay",
                                        headers: adminToken, expect: .notFound)
                    _ = try await check(.post, "/api/admin/webhook-events/replay?since=2000-01-01T00:00:00Z", "/api/admin/webhook-events/replay",
                                        headers: adminToken, expect: .accepted)
                    _ = try await check(.get, "/api/admin/quarantine?company_id=\(a)", "/api/admin/quarantine", headers: adminToken, expect: .ok)
                    _ = try await check(.post, "/api/admin/quarantine/rerun", "/api/admin/quarantine/rerun", headers: adminToken, expect: .accepted)
                    _ = try await check(.get, "/api/admin/companies/\(a)/sync", "/api/admin/companies/{id}/sync", headers: adminToken, expect: .ok)
                    _ = try await check(.get, "/api/admin/pipelines", "/api/admin/pipelines", headers: adminToken, expect: .ok)
                    _ = try await check(.post, "/api/admin/pipelines/reload", "/api/admin/pipelines/reload", headers: adminToken, expect: .ok)
                    _ = try await check(.post, "/api/admin/pipelines/hubspot-contacts/backfill?company_id=\(a)", "/api/admin/pipelines/{name}/backfill",
                                        headers: adminToken, expect: .accepted)
                    _ = try await check(.post, "/api/admin/pipelines/nope/rederive", "/api/admin/pipelines/{name}/rederive",
                                        headers: adminToken, expect: .notFound)
                    _ = try await check(.post, "/api/admin/pipelines/hubspot-contacts/rederive?company_id=x", "/api/admin/pipelines/{name}/rederive",
                                        headers: adminToken, expect: .badRequest)
                    _ = try await check(.post, "/api/admin/pipelines/hubspot-contacts/full-resync?company_id=\(a)", "/api/admin/pipelines/{name}/full-resync",
                                        headers: adminToken, expect: .accepted)
                    _ = try await check(.post, "/api/admin/pipelines/nope/full-resync", "/api/admin/pipelines/{name}/full-resync",
                                        headers: adminToken, expect: .notFound)
                    _ = try await check(.post, "/api/admin/connections/import", "/api/admin/connections/import", headers: adminToken,
                                        body: #"{"integration_id":"hubspot"}"#, expect: .badRequest)
                    _ = try await check(.post, "/api/admin/companies/\(a)/tokens/revoke", "/api/admin/companies/{id}/tokens/revoke",
                                        headers: adminToken, expect: .ok)
                    _ = try await check(.post, "/api/admin/companies/not-a-uuid/tokens/revoke", "/api/admin/companies/{id}/tokens/revoke",
                                        headers: adminToken, expect: .badRequest)
                    _ = try await check(.get, "/api/admin/jobs", "/api/admin/jobs", headers: adminToken, expect: .ok)
                    _ = try await check(.post, "/api/admin/jobs/\(deadJobId)/retry", "/api/admin/jobs/{id}/retry", headers: adminToken, expect: .accepted)
                    _ = try await check(.post, "/api/admin/jobs/\(deadJobId)/retry", "/api/admin/jobs/{id}/retry", headers: adminToken, expect: .conflict)

                    // Outbound webhook endpoints (a public address literal: no DNS needed, not internal).
                    var json = adminToken
                    json[.contentType] = "application/json"
                    let created = try await check(.post, "/api/admin/webhook-endpoints", "/api/admin/webhook-endpoints", headers: json,
                                                  body: #"{"url": "https://93.184.216.34/hook", "event_types": ["contacts.changed", "webhook.test"], "rate_limit": 5}"#,
                                                  expect: .created)
                    let endpoint = try #require(created?["id"]?.string)
                    _ = try await check(.post, "/api/admin/webhook-endpoints", "/api/admin/webhook-endpoints", headers: json,
                                        body: #"{"url": "http://93.184.216.34/hook"}"#, expect: .badRequest)
                    _ = try await check(.get, "/api/admin/webhook-endpoints?limit=10", "/api/admin/webhook-endpoints", headers: adminToken, expect: .ok)
                    _ = try await check(.get, "/api/admin/webhook-endpoints/\(endpoint)", "/api/admin/webhook-endpoints/{id}", headers: adminToken, expect: .ok)
                    _ = try await check(.get, "/api/admin/webhook-endpoints/\(UUID())", "/api/admin/webhook-endpoints/{id}", headers: adminToken, expect: .notFound)
                    _ = try await check(.patch, "/api/admin/webhook-endpoints/\(endpoint)", "/api/admin/webhook-endpoints/{id}", headers: json,
                                        body: #"{"event_types": null, "description": "all of it"}"#, expect: .ok)
                    _ = try await check(.patch, "/api/admin/webhook-endpoints/\(endpoint)", "/api/admin/webhook-endpoints/{id}", headers: json,
                                        body: #"{"status": "paused"}"#, expect: .badRequest)
                    let test = try await check(.post, "/api/admin/webhook-endpoints/\(endpoint)/test", "/api/admin/webhook-endpoints/{id}/test",
                                               headers: json, body: "{}", expect: .accepted)
                    let message = try #require(test?["message_id"]?.string)
                    _ = try await check(.get, "/api/admin/webhook-endpoints/\(endpoint)/messages?status=pending", "/api/admin/webhook-endpoints/{id}/messages",
                                        headers: adminToken, expect: .ok)
                    _ = try await check(.get, "/api/admin/webhook-messages/\(message)/attempts", "/api/admin/webhook-messages/{id}/attempts",
                                        headers: adminToken, expect: .ok)
                    _ = try await check(.post, "/api/admin/webhook-messages/\(message)/resend", "/api/admin/webhook-messages/{id}/resend",
                                        headers: json, body: "{}", expect: .accepted)
                    _ = try await check(.post, "/api/admin/webhook-messages/msg_none/resend", "/api/admin/webhook-messages/{id}/resend",
                                        headers: json, body: "{}", expect: .notFound)
                    _ = try await check(.post, "/api/admin/webhook-endpoints/\(endpoint)/rotate-secret", "/api/admin/webhook-endpoints/{id}/rotate-secret",
                                        headers: json, body: "{}", expect: .ok)
                    _ = try await check(.post, "/api/admin/webhook-endpoints/\(endpoint)/recover", "/api/admin/webhook-endpoints/{id}/recover",
                                        headers: json, body: #"{"since": "2026-01-01T00:00:00Z"}"#, expect: .accepted)
                    _ = try await check(.post, "/api/admin/webhook-endpoints/\(endpoint)/recover", "/api/admin/webhook-endpoints/{id}/recover",
                                        headers: json, body: #"{"since": "yesterday"}"#, expect: .badRequest)
                    _ = try await check(.delete, "/api/admin/webhook-endpoints/\(endpoint)", "/api/admin/webhook-endpoints/{id}", headers: adminToken,
                                        expect: .noContent)

                    _ = try await check(.post, "/api/admin/drift/check?company_id=\(a)", "/api/admin/drift/check", headers: adminToken, expect: .accepted)
                    _ = try await check(.post, "/api/admin/drift/check?company_id=x", "/api/admin/drift/check", headers: adminToken, expect: .badRequest)
                    _ = try await check(.get, "/api/admin/drift?state=open&limit=5", "/api/admin/drift", headers: adminToken, expect: .ok)
                    _ = try await check(.get, "/api/admin/drift?state=stuck", "/api/admin/drift", headers: adminToken, expect: .badRequest)

                    let all = Set(APIDocument.operations.map(\.operationId))
                    #expect(all.subtracting(exercised).sorted() == [], "operations no request exercised")
                }
            }
        }
    }

    /// A standard validator (openapi-spec-validator from PyPI, which `make test` installs) accepts the served document.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["OPENAPI_VALIDATOR"] != nil, "set OPENAPI_VALIDATOR (make test does)"))
    func aStandardValidatorAcceptsTheDocument() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-\(UUID().uuidString).json")
        try Data(APIDocument.json.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["OPENAPI_VALIDATOR"]!)
        process.arguments = [file.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(printed)")
        #expect(printed.contains("OK"))
    }
}
