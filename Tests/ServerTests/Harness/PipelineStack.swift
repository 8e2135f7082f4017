import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import MarketplaceCore
import Nango
import NIOCore
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle
import Storage
import Synchronization
import Testing
import TestSupport

@testable import NangoEmulator
import Pipeline
@testable import Server

/// The whole product on one machine: the emulator as Nango sending real signed webhooks to the live app, the app's own
/// workers and scheduler, a database of the test's own. Suites that follow records end to end run inside it.
struct PipelineStack: Sendable {
    static let nangoKey = "6f1c3a52-5a0e-4b43-9a55-2b8e0d4c1e77"
    static let webhookSecret = "whsec-pipeline-test"

    let emulator: Emulator
    let nangoURL: String
    let appURL: String
    let pipelinesFile: String
    let dependencies: Dependencies
    let sql: @Sendable (String) async throws -> [PostgresRow]

    func control(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> String {
        var request = HTTPClientRequest(url: "\(nangoURL)/_emulator\(path)")
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        #expect(response.status.code < 300, "\(path): \(text)")
        return text
    }

    func int(_ query: String) async throws -> Int {
        for row in try await sql(query) { return try row.decode(Int?.self) ?? 0 }
        return 0
    }

    /// Polls until `condition` holds (TestSupport's `eventually`, kept as a method so suites read `stack.eventually`).
    func eventually(_ what: String, timeout: Duration = .seconds(90), sourceLocation: SourceLocation = #_sourceLocation,
                    _ condition: () async throws -> Bool) async throws {
        try await TestSupport.eventually(what, timeout: timeout, sourceLocation: sourceLocation, diagnosis: { await self.diagnosis() }, condition)
    }

    /// Where the queues, the outbound dispatcher and Postgres's sessions stood: printed when a wait gives up.
    func diagnosis() async -> String {
        let probes = [
            ("jobs", "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM jobs GROUP BY status) s"),
            ("change log bound", "SELECT change_log_bound()::text"),
            ("dispatch position", "SELECT xid::text || '.' || seq FROM outbound_dispatch"),
            ("outbound events", "SELECT string_agg(type || '@' || xid::text || '.' || seq, ', ' ORDER BY xid, seq) FROM outbound_events"),
            ("messages", """
                SELECT string_agg(event_type || ' ' || status || ' attempts ' || attempts || ' due ' || to_char(next_attempt_at, 'HH24:MI:SS.MS')
                       || coalesce(' leased to ' || to_char(lease_expires_at, 'HH24:MI:SS.MS'), '') || coalesce(' (' || last_error || ')', ''), '; ' ORDER BY id)
                FROM webhook_messages
                """),
            ("endpoints", "SELECT string_agg(status || coalesce(' ' || disabled_reason, ''), ', ') FROM webhook_endpoints"),
            ("sessions", """
                SELECT string_agg(state || coalesce(' ' || wait_event_type || ':' || wait_event, '') || ' for ' || round(extract(epoch FROM now() - state_change))::text
                       || 's: ' || left(query, 60), ' | ') FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND state <> 'idle'
                """),
            ("now", "SELECT to_char(now(), 'HH24:MI:SS.MS')"),
        ]
        var parts: [String] = []
        for (name, query) in probes {
            let answer = (try? await sql(query).first.flatMap { try $0.decode(String?.self) }) ?? nil
            parts.append("\(name): \(answer ?? "-")")
        }
        return parts.joined(separator: "; ")
    }

    /// What Nango serves for a model right now, read through the Nango client and sorted by hand-written rules,
    /// never by the pipeline under test: a normalization bug cannot agree with itself here.
    func served(_ integration: String, _ model: String, connection: String) async throws -> NangoServed {
        var records: [NangoRecord] = []
        let query = NangoRecordsQuery(connectionId: connection, providerConfigKey: integration, model: model, limit: 1000)
        for try await page in dependencies.nango.records(query) { records += page.records }
        return NangoServed(integration: integration, model: model, records: records)
    }

    /// A HubSpot sync job inserted as if `leaseOwner` had claimed it (for ten minutes), and the job as a worker holds it.
    func runningSyncJob(connection: String, model: String, leaseOwner: String, attempts: Int) async throws -> ClaimedJob {
        let key = "sync:hubspot:\(connection):\(model)"
        let payload: [String: JSONValue] = ["connection_id": .string(connection), "integration_id": "hubspot", "model": .string(model)]
        let rows = try await dependencies.database.withConnection { db in
            try await db.query("""
                INSERT INTO jobs (kind, payload, concurrency_key, status, lease_owner, lease_expires_at, attempts)
                VALUES ('sync.run', jsonb_build_object('connection_id', \(connection)::text, 'integration_id', 'hubspot', 'model', \(model)::text),
                        \(key), 'running', \(leaseOwner), now() + interval '10 minutes', \(attempts))
                RETURNING id
                """, logger: TestEnvironment.logger).collect()
        }
        let id = try #require(try rows.first?.decode(Int64.self))
        return ClaimedJob(id: id, kind: "sync.run", payload: payload, attempts: 1, maxAttempts: 8, concurrencyKey: key, eventId: nil)
    }

    /// A sync runner of the app's own parts, for a test to drive by hand as a worker would.
    func syncRunner() -> SyncRunner {
        SyncRunner(nango: dependencies.nango, database: dependencies.database, registry: dependencies.pipelines,
                   importer: dependencies.importer, logger: TestEnvironment.logger)
    }

    func company(_ connection: String, integration: String? = nil) async throws -> String {
        let rows = try await sql("""
            SELECT id::text FROM companies WHERE connection_id = '\(connection)' \(integration.map { "AND integration_id = '\($0)'" } ?? "")
            """)
        try #require(rows.count == 1, "one company for \(connection)")
        return try rows[0].decode(String.self)
    }

    /// An admin call to the app.
    func admin(_ method: HTTPMethod, _ path: String) async throws -> (status: UInt, body: String) {
        var request = HTTPClientRequest(url: appURL + path)
        request.method = method
        request.headers.add(name: "X-Admin-Token", value: TestEnvironment.values()["ADMIN_TOKEN"] ?? "")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        return (response.status.code, String(buffer: try await response.body.collect(upTo: 4 << 20)))
    }

    /// An admin call with a JSON body; the answer parsed.
    func admin(_ method: HTTPMethod, _ path: String, json body: String) async throws -> (status: UInt, body: JSONValue) {
        var request = HTTPClientRequest(url: appURL + path)
        request.method = method
        request.headers.add(name: "X-Admin-Token", value: TestEnvironment.values()["ADMIN_TOKEN"] ?? "")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let text = try await response.body.collect(upTo: 4 << 20)
        return (response.status.code, (try? JSONValue.parse(Array(text.readableBytesView))) ?? .null)
    }

    /// Replaces the pipelines file the app runs (the app reloads it when asked, or by itself).
    func rewritePipelines(_ change: (String) -> String) throws {
        try PipelineStack.pipelinesText(change).write(toFile: pipelinesFile, atomically: true, encoding: .utf8)
    }

    /// How many `GET /records` calls the emulator has answered.
    func recordsRequests() async throws -> Int {
        let state = try JSONValue.parse(Array(try await control(.GET, "/state").utf8))
        guard case .number(let count) = state["records_requests"] else { return -1 }
        return Int(count)
    }

    func get(_ path: String, token: String) async throws -> (status: UInt, body: String) {
        var request = HTTPClientRequest(url: appURL + path)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        return (response.status.code, String(buffer: try await response.body.collect(upTo: 4 << 20)))
    }

    func jobsSettled() async throws -> Bool {
        try await int("SELECT count(*)::int FROM jobs WHERE status IN ('queued', 'running', 'failed')") == 0
    }

    /// Connects at the emulator and waits until the connection's `models` first syncs succeeded and no job is left
    /// waiting; returns its company's id.
    @discardableResult
    func connect(_ integration: String, _ connection: String, models: Int) async throws -> String {
        _ = try await control(.POST, "/connections", #"{"provider_config_key": "\#(integration)", "connection_id": "\#(connection)"}"#)
        try await eventually("initial syncs of \(connection)") {
            try await int("SELECT count(*)::int FROM sync_state WHERE connection_id = '\(connection)' AND last_success_at IS NOT NULL") == models
        }
        try await eventually("jobs settled") { try await jobsSettled() }
        return try await company(connection)
    }

    /// A copy of the shipped pipelines with small pages (several per sync) and a fast retry policy.
    static func pipelinesFile(_ change: (String) -> String = { $0 }) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pipelines-\(UUID().uuidString).yaml").path
        try pipelinesText(change).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The shipped pipelines with small pages (several per sync) and a fast retry policy, then `change`.
    static func pipelinesText(_ change: (String) -> String = { $0 }) throws -> String {
        let shipped = try String(contentsOfFile: PipelineLoaderTestsPath.file, encoding: .utf8)
        let edited = shipped.replacingOccurrences(of: "page_size: 500", with: "page_size: 7")
            .replacingOccurrences(of: "retry: { max_attempts: 8, initial_backoff: 2s, max_backoff: 10m }",
                                  with: "retry: { max_attempts: 2, initial_backoff: 100ms, max_backoff: 200ms }")
        return change(edited)
    }

    static func with(
        records: Int = 30, _ overrides: [String: String] = [:], pipelines change: @Sendable (String) -> String = { $0 },
        _ body: @escaping @Sendable (PipelineStack) async throws -> Void
    ) async throws {
        let appPort = FreePort.next()
        let emulator = Emulator(
            options: .init(secretKey: nangoKey, webhookSecret: webhookSecret, webhookURLs: ["http://127.0.0.1:\(appPort)/webhooks/nango"],
                           seed: 7, recordsPerModel: records, webhookRetryScale: 0.1, environment: "dev", publicURL: "http://127.0.0.1"),
            logger: TestEnvironment.logger)
        let pipelines = try pipelinesFile(change)
        defer { try? FileManager.default.removeItem(atPath: pipelines) }
        try await emulator.application(host: "127.0.0.1", port: 0).test(.live) { nango in
            let nangoURL = "http://127.0.0.1:\(nango.port!)"
            try await TestDatabase.with { database in
                try await Database.running(database) { client in
                    _ = try await Migrator(migrations: try Migration.bundled()).migrate(client, logger: TestEnvironment.logger)
                    var values = [
                        "NANGO_BASE_URL": nangoURL, "NANGO_SECRET_KEY": nangoKey, "NANGO_WEBHOOK_SECRET": webhookSecret,
                        "PIPELINES_FILE": pipelines, "WORKER_COUNT": "2", "RECONCILE_INTERVAL": "3600",
                    ]
                    values.merge(overrides) { $1 }
                    let dependencies = try await TestApp.dependencies(values, database: database)
                    // Run as `serve` does (the testing framework's live mode picks its own port; Nango must know ours).
                    let app = buildApplication(dependencies, host: "127.0.0.1", port: appPort, migrateOnStart: false)
                    let services = ServiceGroup(configuration: .init(services: [app], logger: TestEnvironment.logger))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await services.run() }
                        defer { group.cancelAll() }
                        var up = false
                        for _ in 0..<250 where !up {
                            if let answer = try? await HTTPClient.shared.execute(
                                HTTPClientRequest(url: "http://127.0.0.1:\(appPort)/health/live"), timeout: .seconds(1)), answer.status == .ok {
                                up = true
                            } else {
                                try await Task.sleep(for: .milliseconds(20))
                            }
                        }
                        try #require(up, "the app did not start on port \(appPort)")
                        // The scheduler's start-up round (reconciliation among it) finishes before the test acts, so
                        // no start-up job races the test's own: the next round is an interval (an hour) away.
                        try await waitForStartUpRound(client)
                        try await body(PipelineStack(emulator: emulator, nangoURL: nangoURL, appURL: "http://127.0.0.1:\(appPort)", pipelinesFile: pipelines, dependencies: dependencies) { sql in
                            try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestEnvironment.logger)
                        })
                        await services.triggerGracefulShutdown()
                        try await group.next()
                    }
                }
            }
        }
    }

    /// Polls until every scheduled task has finished its first run.
    static func waitForStartUpRound(_ client: Database) async throws {
        let tasks = [ScheduledTasks.reconcile, ScheduledTasks.credentialRefresh, ScheduledTasks.cleanup, ScheduledTasks.fullResync]
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let rows = try await client.query(
                "SELECT count(*)::int FROM scheduled_tasks WHERE name = ANY(\(tasks)) AND last_finished_at IS NOT NULL", logger: TestEnvironment.logger)
            if try rows.first?.decode(Int.self) == tasks.count { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        // What each task got to, so a failure here says which task hung or lost its end.
        let rows = try await client.query("""
            SELECT name || ': runs ' || runs || ', started ' || coalesce(last_started_at::text, '-') || ', finished '
                   || coalesce(last_finished_at::text, '-') || ', ' || coalesce(last_outcome, '-') || ' ' || coalesce(last_error, '')
            FROM scheduled_tasks ORDER BY name
            """, logger: TestEnvironment.logger)
        let states = try rows.map { try $0.decode(String.self) }
        Issue.record("the scheduler's start-up round did not finish in 60 s: \(states.joined(separator: "; "))")
        throw CancellationError()
    }
}

/// Counts calls: the first answers 0.
final class ManagedCounter: Sendable {
    let value = Mutex(0)
    func next() -> Int {
        value.withLock { count in
            count += 1
            return count - 1
        }
    }
}

enum PipelineLoaderTestsPath {
    /// This file is `Tests/ServerTests/Harness/PipelineStack.swift`; the shipped file is at the root.
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("pipelines.yaml").path
}

/// A model's records as Nango serves them, sorted by what the emulator's catalog does to them
/// (`NangoEmulator/Catalog/RecordShapes.swift`): about one record in fifty is broken on purpose, each model in its own
/// recognisable way, and the shipped pipelines quarantine exactly those.
struct NangoServed: Sendable {
    /// Ids of live records the pipeline must store as rows.
    let kept: [String]
    /// Ids of live records the emulator broke: they must sit in quarantine.
    let broken: [String]
    /// Ids Nango marks deleted.
    let deleted: [String]
    /// Records by id, as served.
    let records: [String: NangoRecord]

    init(integration: String, model: String, records served: [NangoRecord]) {
        let isBroken = Self.brokenMarks[integration + "/" + model] ?? { _ in false }
        var byId: [String: NangoRecord] = [:]
        for record in served { byId[record.id] = record }
        let live = byId.values.filter { $0.metadata.deletedAt == nil && $0.metadata.prunedAt == nil }
        kept = live.filter { !isBroken($0.fields) }.map(\.id).sorted()
        broken = live.filter { isBroken($0.fields) }.map(\.id).sorted()
        deleted = byId.values.filter { $0.metadata.deletedAt != nil }.map(\.id).sorted()
        records = byId
    }

    /// How the catalog breaks a record of each model; models it never breaks are absent.
    static let brokenMarks: [String: @Sendable ([String: JSONValue]) -> Bool] = [
        "hubspot/Contact": { $0["email"] == .string("@nowhere") },
        "hubspot/Product": { $0["price"] == .string("N/A") },
        "quickbooks/Customer": { $0["email"] == .string("not-an-email") },
        "quickbooks/Item": { $0["unitPrice"] == .string("twelve") },
        "xero/Contact": { $0["email"] == .string("bob@@example") },
        "salesforce/Contact": { $0["email"] == .string("rose at edge") },
    ]
}
