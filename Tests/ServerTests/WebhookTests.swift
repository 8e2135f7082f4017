import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import Ingest
import MarketplaceCore
import Nango
import NIOCore
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Server

@Suite(.timeLimit(.minutes(10))) struct WebhookTests {
    static let key = "test-nango-webhook-signing-key"   // TestEnvironment's NANGO_WEBHOOK_SECRET

    static let syncBody = #"{"connectionId":"user-123","from":"nango","model":"Customer","modifiedAfter":"2026-05-01T10:00:00.000Z","providerConfigKey":"quickbooks","queryTimeStamp":"2026-05-01T10:00:00.000Z","responseResults":{"added":2,"deleted":0,"updated":1},"success":true,"syncName":"customers","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}"#

    static func headers(_ body: String, key: String = key) -> HTTPFields {
        [.contentType: "application/json",
         .nangoHmac: NangoWebhookSignature.hmac(body: Array(body.utf8), key: key),
         .nangoSignature: NangoWebhookSignature.legacy(body: Array(body.utf8), key: key)]
    }

    /// A migrated database of the test's own, the app on it, and a way to count rows.
    static func withApp(
        _ overrides: [String: String] = [:],
        _ body: @escaping @Sendable (any TestClientProtocol, @escaping @Sendable (String) async throws -> Int) async throws -> Void
    ) async throws {
        try await TestDatabase.with { database in
            try await Database.running(database) { client in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(client, logger: TestEnvironment.logger)
                let app = buildApplication(try await TestApp.dependencies(overrides, database: database), port: 0, migrateOnStart: false, backgroundJobs: false)
                try await app.test(.router) { testClient in
                    try await body(testClient) { table in
                        try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table)"), logger: TestEnvironment.logger)[0]
                            .decode(Int.self)
                    }
                }
            }
        }
    }

    @Test func aSignedSyncWebhookIsStoredWithItsJobBeforeTheAnswer() async throws {
        try await Self.withApp { client, count in
            try await client.execute(uri: "/webhooks/nango", method: .post, headers: Self.headers(Self.syncBody), body: ByteBuffer(string: Self.syncBody)) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"stored"}"#)
            }
            let value1 = try await count("webhook_events")
            #expect(value1 == 1)
            let value2 = try await count("jobs WHERE kind = 'sync.run' AND concurrency_key = 'sync:quickbooks:user-123:Customer'")
            #expect(value2 == 1)
            let value3 = try await count("webhook_events WHERE raw_body = '\(Self.syncBody)' AND model = 'Customer' AND sync_name = 'customers'")
            #expect(value3 == 1)
        }
    }

    @Test func tamperedOrMissingSignaturesAre401AndStoreNothing() async throws {
        try await Self.withApp { client, count in
            var tampered = Self.headers(Self.syncBody)
            tampered[.nangoHmac] = String(repeating: "0", count: 64)
            let changedBody = Self.syncBody.replacingOccurrences(of: "\"added\":2", with: "\"added\":9")
            for (headers, body) in [(tampered, Self.syncBody), (Self.headers(Self.syncBody), changedBody),
                                    (HTTPFields([HTTPField(name: .contentType, value: "application/json")]), Self.syncBody),
                                    (Self.headers(Self.syncBody, key: "another-key"), Self.syncBody)] {
                try await client.execute(uri: "/webhooks/nango", method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .unauthorized)
                    let error = try TestApp.json(response.body)["error"] as? [String: String]
                    #expect(error?["code"] == "invalid_signature")
                }
            }
            let value4 = try await count("webhook_events")
            #expect(value4 == 0)
            let value5 = try await count("jobs")
            #expect(value5 == 0)
        }
    }

    @Test func legacySignatureCountsOnlyWhenConfigured() async throws {
        let legacyOnly: HTTPFields = {
            var fields = Self.headers(Self.syncBody)
            fields[.nangoHmac] = nil
            return fields
        }()
        try await Self.withApp { client, count in
            let value6 = try await client.execute(uri: "/webhooks/nango", method: .post, headers: legacyOnly, body: ByteBuffer(string: Self.syncBody)).status
            #expect(value6 == .unauthorized)
            let value7 = try await count("webhook_events")
            #expect(value7 == 0)
        }
        try await Self.withApp(["NANGO_WEBHOOK_LEGACY_SIGNATURE": "true"]) { client, count in
            let value8 = try await client.execute(uri: "/webhooks/nango", method: .post, headers: legacyOnly, body: ByteBuffer(string: Self.syncBody)).status
            #expect(value8 == .ok)
            let value9 = try await count("webhook_events")
            #expect(value9 == 1)
        }
    }

    @Test func theSameDelivery20TimesTenAtOnceIsOneEventAndOneJob() async throws {
        try await Self.withApp { client, count in
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        try await client.execute(uri: "/webhooks/nango", method: .post, headers: Self.headers(Self.syncBody), body: ByteBuffer(string: Self.syncBody)).status
                    }
                }
                for try await status in group { #expect(status == .ok) }
            }
            for _ in 0..<10 {
                try await client.execute(uri: "/webhooks/nango", method: .post, headers: Self.headers(Self.syncBody), body: ByteBuffer(string: Self.syncBody)) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == #"{"status":"duplicate"}"#)
                }
            }
            let value10 = try await count("webhook_events")
            #expect(value10 == 1)
            let value11 = try await count("jobs")
            #expect(value11 == 1)
        }
    }

    /// Sync webhooks of one (integration, connection, model) while its job waits: one queued job, each event linked to it.
    @Test func syncWebhooksOfOneKeyShareTheWaitingJob() async throws {
        try await Self.withApp { client, count in
            for added in 1...3 {
                let body = Self.syncBody.replacingOccurrences(of: #""added":2"#, with: #""added":\#(added * 10)"#)
                try await client.execute(uri: "/webhooks/nango", method: .post, headers: Self.headers(body), body: ByteBuffer(string: body)) { response in
                    #expect(String(buffer: response.body) == #"{"status":"stored"}"#)
                }
            }
            #expect(try await count("webhook_events") == 3)
            #expect(try await count("jobs WHERE kind = 'sync.run'") == 1)
            #expect(try await count("webhook_events e JOIN jobs j ON j.id = e.job_id WHERE j.kind = 'sync.run' AND j.status = 'queued'") == 3)
        }
    }

    @Test func malformedAndOversizedBodiesAre400And413WithZeroRows() async throws {
        try await Self.withApp(["WEBHOOK_BODY_LIMIT": "4096"]) { client, count in
            let missingModel = #"{"connectionId":"c","from":"nango","providerConfigKey":"xero","success":true,"syncName":"contacts","type":"sync"}"#
            for (body, expected) in [("not json {", "not valid JSON"), (missingModel, "'model'"),
                                     (#"{"type":"auth","from":"nango","connectionId":"c","providerConfigKey":"x","operation":"creation"}"#, "'success'")] {
                try await client.execute(uri: "/webhooks/nango", method: .post, headers: Self.headers(body), body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .badRequest)
                    let error = try TestApp.json(response.body)["error"] as? [String: String]
                    #expect(error?["code"] == "invalid_payload")
                    #expect(error?["message"]?.contains(expected) == true, "\(String(describing: error))")
                }
            }
            let big = #"{"type":"forward","connectionId":"c","providerConfigKey":"hubspot","payload":""# + String(repeating: "x", count: 5000) + #""}"#
            let value12 = try await client.execute(uri: "/webhooks/nango", method: .post, headers: Self.headers(big), body: ByteBuffer(string: big)).status
            #expect(value12 == .contentTooLarge)
            let value13 = try await count("webhook_events")
            #expect(value13 == 0)
        }
    }

    @Test func eachKindOfEventCallsForItsJob() async throws {
        try await Self.withApp { client, count in
            let bodies = [
                #"{"authMode":"OAUTH2","connectionId":"c1","environment":"dev","from":"nango","operation":"creation","provider":"xero","providerConfigKey":"xero","success":true,"type":"auth"}"#,
                #"{"authMode":"OAUTH2","connectionId":"c1","environment":"dev","error":{"description":"expired","type":"refresh_token_external_error"},"from":"nango","operation":"refresh","provider":"xero","providerConfigKey":"xero","success":false,"type":"auth"}"#,
                #"{"authMode":"OAUTH2","connectionId":"c2","environment":"dev","error":{"description":"denied","type":"x"},"from":"nango","operation":"creation","provider":"xero","providerConfigKey":"xero","success":false,"type":"auth"}"#,
                #"{"connectionId":"c1","error":{"description":"Request failed with status code 401","type":"script_error"},"failedAt":"2026-05-01T10:00:07.412Z","from":"nango","model":"Contact,Item","providerConfigKey":"xero","startedAt":"2026-05-01T09:00:00.000Z","success":false,"syncName":"contacts","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}"#,
                #"{"connectionId":"c1","from":"hubspot","payload":[{"eventId":1}],"providerConfigKey":"hubspot","type":"forward"}"#,
                #"[{"eventId":2,"subscriptionType":"contact.creation"}]"#,
                #"{"connectionId":"c1","from":"nango","type":"brand_new_type","providerConfigKey":"xero"}"#,
            ]
            for body in bodies {
                let value14 = try await client.execute(uri: "/webhooks/nango", method: .post, headers: Self.headers(body), body: ByteBuffer(string: body)).status
                #expect(value14 == .ok, "\(body)")
            }
            let value15 = try await count("webhook_events")
            #expect(value15 == 7)
            let value16 = try await count("jobs WHERE kind = 'connection.upsert'")
            #expect(value16 == 1)
            let value17 = try await count("jobs WHERE kind = 'connection.refresh_failed' AND payload->'error'->>'type' = 'refresh_token_external_error'")
            #expect(value17 == 1)
            let value18 = try await count("jobs WHERE kind = 'forward.received'")
            #expect(value18 == 2)
            let value19 = try await count("jobs")
            #expect(value19 == 4, "failed creation, sync failure and unknown type call for no job")
            let value20 = try await count("sync_state WHERE nango_sync_status = 'failure' AND last_error LIKE '%401%'")
            #expect(value20 == 2)
            let value21 = try await count("webhook_events WHERE type = 'brand_new_type' AND status = 'ignored'")
            #expect(value21 == 1)
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains(#"webhooks_unknown_type_total{type="brand_new_type"} 1"#))
            }
        }
    }

    @Test func postgresDownIs503QuicklyAndTheRetryIsStoredOnce() async throws {
        let down = buildApplication(
            try await TestApp.dependencies(["DATABASE_URL": "postgres://nobody:pw@127.0.0.1:1/none", "DB_FAST_TIMEOUT_MS": "2000"]), port: 0, migrateOnStart: false, backgroundJobs: false)
        try await down.test(.router) { client in
            let start = ContinuousClock.now
            try await client.execute(uri: "/webhooks/nango", method: .post, headers: Self.headers(Self.syncBody), body: ByteBuffer(string: Self.syncBody)) { response in
                #expect(response.status == .serviceUnavailable)
            }
            // Bounded by DB_FAST_TIMEOUT_MS, not the pool's minute-long wait; a loaded machine adds seconds.
            #expect(ContinuousClock.now - start < .seconds(20))
        }
        // Nango's retry reaches an instance whose Postgres is back: stored once.
        try await Self.withApp { client, count in
            for _ in 0..<2 {
                let value22 = try await client.execute(uri: "/webhooks/nango", method: .post, headers: Self.headers(Self.syncBody), body: ByteBuffer(string: Self.syncBody)).status
                #expect(value22 == .ok)
            }
            let value23 = try await count("webhook_events")
            #expect(value23 == 1)
        }
    }

    /// A NUL character in a stored field is refused with a 400 naming it, before it reaches Postgres.
    @Test func aNULCharacterInAFieldIs400() async throws {
        try await Self.withApp { client, count in
            let body = Self.syncBody.replacingOccurrences(of: "user-123", with: #"user-\u0000-5"#)
            let response = try await client.execute(uri: "/webhooks/nango", method: .post, headers: Self.headers(body), body: ByteBuffer(string: body))
            #expect(response.status == .badRequest)
            #expect(String(buffer: response.body).contains("'connectionId' contains a NUL"))
            #expect(try await count("webhook_events") == 0)
        }
    }

    /// The HTTP server may take a webhook before the inbox writer's service has started: it waits for the
    /// writer (bounded by its own timeout) and is stored, instead of a 503 at start-up.
    @Test func aWebhookTakenBeforeTheWriterRunsIsStoredOnceItRuns() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                let inbox = InboxWriter(database: database, batchTimeout: .seconds(60), writers: 1, logger: TestEnvironment.logger)
                let classification = try WebhookClassification.classify(body: Array(Self.syncBody.utf8))
                let early = Task { try await inbox.store(classification, timeout: .seconds(60)) }
                // The webhook is taken before the writer starts: `store` takes its bytes as it begins, and gives them
                // back only once answered, which nothing does while no writer runs.
                let deadline = ContinuousClock.now + .seconds(30)
                while inbox.queuedByteCount == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                try #require(inbox.queuedByteCount > 0, "the submission waits for a writer")
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await inbox.run() }
                    let outcome = try await early.value
                    #expect(outcome != .duplicate)
                    let rows = try await database.query("SELECT count(*)::int FROM webhook_events", logger: TestEnvironment.logger)
                    #expect(try rows[0].decode(Int.self) == 1)
                    group.cancelAll()
                }
            }
        }
    }

    /// Bodies waiting for their commit are bounded in bytes: past the bound a submission is refused at once (503,
    /// Nango retries), and the budget comes back as the waiting ones are answered.
    @Test func theInboxQueueStopsAtItsByteBound() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                let bodies = (0..<4).map { #"{"connectionId":"c\#($0)","from":"nango","model":"Contact","providerConfigKey":"xero","success":true,"syncName":"contacts","type":"sync"}"# }
                let size = bodies[0].utf8.count + 1024
                let inbox = InboxWriter(database: database, batchTimeout: .seconds(60), writers: 1, maxQueuedBytes: 3 * size + 10, logger: TestEnvironment.logger)
                let classified = try bodies.map { try WebhookClassification.classify(body: Array($0.utf8)) }
                // The writer is not running yet: three submissions wait, holding the budget.
                let waiting = (0..<3).map { index in Task { try await inbox.store(classified[index], timeout: .seconds(60)) } }
                let deadline = ContinuousClock.now + .seconds(20)
                while inbox.queuedByteCount < 3 * size, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                #expect(inbox.queuedByteCount == 3 * size)
                await #expect(throws: InboxWriter.Unavailable.full, "a fourth body past the bound is refused") {
                    _ = try await inbox.store(classified[3], timeout: .seconds(30))
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await inbox.run() }
                    for task in waiting {
                        let outcome = try await task.value
                        #expect(outcome != .duplicate)
                    }
                    // Answered and freed: the budget is back (the writer lets go of its batch a moment after answering).
                    var last: InboxWriter.Outcome?
                    let until = ContinuousClock.now + .seconds(20)
                    while last == nil, ContinuousClock.now < until {
                        do {
                            last = try await inbox.store(classified[3], timeout: .seconds(30))
                        } catch InboxWriter.Unavailable.full {
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                    #expect(last != nil && last != .duplicate)
                    group.cancelAll()
                }
                let rows = try await database.query("SELECT count(*)::int FROM webhook_events", logger: TestEnvironment.logger)
                #expect(try rows[0].decode(Int.self) == 4)
            }
        }
    }

    /// Events submitted together are committed together; one Postgres refuses fails alone and its
    /// neighbours are stored all the same (the batch is retried event by event).
    @Test func anEventPostgresRefusesFailsAloneInItsBatch() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                let inbox = InboxWriter(database: database, batchTimeout: .seconds(60), writers: 1, logger: TestEnvironment.logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await inbox.run() }
                    var classifications = try (0..<16).map { index in
                        let body = Self.syncBody.replacingOccurrences(of: "user-123", with: "user-\(index)")
                        return try WebhookClassification.classify(body: Array(body.utf8))
                    }
                    classifications[5].event.connectionId = "user-\u{0}-5"   // past classification, as a bug might let through
                    let outcomes = await withTaskGroup(of: (Int, Bool).self) { submissions in
                        for (index, classification) in classifications.enumerated() {
                            submissions.addTask {
                                // Wait until the writer runs; then all sixteen queue up together.
                                while true {
                                    do { return (index, try await inbox.store(classification, timeout: .seconds(60)) != .duplicate) } catch InboxWriter.Unavailable.notRunning {
                                        try? await Task.sleep(for: .milliseconds(10))
                                    } catch { return (index, false) }
                                }
                            }
                        }
                        var stored: [Int: Bool] = [:]
                        for await (index, ok) in submissions { stored[index] = ok }
                        return stored
                    }
                    #expect(outcomes[5] == false)
                    #expect(outcomes.filter { $0.key != 5 }.values.allSatisfy { $0 }, "\(outcomes)")
                    let rows = try await database.query("SELECT count(*)::int FROM webhook_events", logger: TestEnvironment.logger)
                    #expect(try rows[0].decode(Int.self) == 15)
                    group.cancelAll()
                }
            }
        }
    }
}
