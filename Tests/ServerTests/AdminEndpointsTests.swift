import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingest
import Logging
import MarketplaceCore
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Server

/// Every admin endpoint refuses without the token and answers with it.
@Suite(.timeLimit(.minutes(10))) struct AdminEndpointsTests {
    static let token: HTTPFields = [.adminToken: "test-admin-token-0123456789"]

    @Test func everyAdminEndpointNeedsTheTokenAndWorksWithIt() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                let seeded = try await CompaniesAPITests.seed(database, contacts: 3)
                let body = #"{"connectionId":"conn-a","from":"nango","model":"Contact","providerConfigKey":"hubspot","responseResults":{"added":1,"deleted":0,"updated":0},"success":true,"syncName":"contacts","syncType":"INCREMENTAL","type":"sync"}"#
                let eventId = try await database.withConnection { db -> Int64 in
                    var event = InboxEvent(type: "sync", dedupeKey: WebhookClassification.dedupeKey(Array(body.utf8)), rawBody: body)
                    event.connectionId = "conn-a"
                    event.integrationId = "hubspot"
                    event.model = "Contact"
                    event.syncName = "contacts"
                    return try await WebhookEventsTable.insertBatch([(event, .processed)], on: db, logger: TestEnvironment.logger)[event.dedupeKey]!
                }
                _ = try await database.query("""
                    INSERT INTO connection_credentials (company_id, auth_type, access_token_sealed, token_fingerprint, expires_at)
                    VALUES ('\(unescaped: seeded.a.uuidString)', 'OAUTH2', '\\x0102'::bytea, 'abcdef0123456789', now() + interval '10 minutes')
                    """, logger: TestEnvironment.logger)
                let app = buildApplication(try await TestApp.dependencies(database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                try await app.test(.router) { client in
                    let endpoints: [(HTTPRequest.Method, String, HTTPResponse.Status)] = [
                        (.get, "/api/admin/tokens", .ok), (.post, "/api/admin/tokens/refresh-all", .accepted), (.get, "/api/admin/system/health", .ok),
                        (.get, "/api/admin/webhook-events?type=sync", .ok), (.post, "/api/admin/webhook-events/\(eventId)/replay", .accepted),
                        (.post, "/api/admin/webhook-events/replay?since=2000-01-01T00:00:00Z&type=sync", .accepted),
                        (.get, "/api/admin/quarantine", .ok), (.post, "/api/admin/quarantine/rerun", .accepted),
                        (.get, "/api/admin/companies/\(seeded.a)/sync", .ok), (.get, "/api/admin/pipelines", .ok),
                        (.get, "/api/admin/jobs?status=queued", .ok),
                    ]
                    for (method, path, expected) in endpoints {
                        let refused = try await client.execute(uri: path, method: method)
                        #expect(refused.status == .unauthorized, "\(path)")
                        let answered = try await client.execute(uri: path, method: method, headers: Self.token)
                        #expect(answered.status == expected, "\(path): \(String(buffer: answered.body))")
                    }
                    let tokens = String(buffer: try await client.execute(uri: "/api/admin/tokens", method: .get, headers: Self.token).body)
                    #expect(tokens.contains("\"fingerprint\":\"abcdef01…\""))
                    #expect(!tokens.contains("abcdef0123456789") && !tokens.contains("sealed"))
                    let jobs = try await database.query("SELECT kind, event_id FROM jobs ORDER BY id", logger: TestEnvironment.logger)
                    let kinds = try jobs.map { try $0.decode((String, Int64?).self) }
                    #expect(kinds.contains { $0.0 == "connection.refresh" })
                    // Replayed twice (by id, then in a range) while its job waits: one queued job, the event linked to it.
                    #expect(kinds.filter { $0.0 == "sync.run" && $0.1 == eventId }.count == 1)
                    let linked = try await database.query(
                        "SELECT count(*)::int FROM webhook_events e JOIN jobs j ON j.id = e.job_id WHERE e.id = \(eventId) AND j.kind = 'sync.run'",
                        logger: TestEnvironment.logger)
                    #expect(try linked.first?.decode(Int.self) == 1)
                    let bad = try await client.execute(uri: "/api/admin/webhook-events?since=yesterday", method: .get, headers: Self.token)
                    #expect(bad.status == .badRequest)
                    let missing = try await client.execute(uri: "/api/admin/webhook-events/999999/replay", method: .post, headers: Self.token)
                    #expect(missing.status == .notFound)
                }
            }
        }
    }
}
