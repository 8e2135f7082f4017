import AsyncHTTPClient
import Foundation
import MarketplaceCore
import NIOCore
import NIOHTTP1
import Nango
import Tokens
import Pipeline
import PostgresNIO
import Storage
import Synchronization
import Testing
import TestSupport

@testable import Server

/// The drift check end to end (docs/drift.md): the emulator as Nango with its `GET /sync/status` counts, its records
/// that commit late behind the cursor, and the app's workers.
@Suite(.serialized, .timeLimit(.minutes(10))) struct DriftCheckTests {
    static func drift(_ stack: PipelineStack, _ company: String, _ model: String) async throws -> (state: String, nango: Int, ours: Int)? {
        let rows = try await stack.sql("SELECT state, nango_count::int, our_count::int FROM sync_drift WHERE company_id = '\(company)' AND model = '\(model)'")
        return try rows.first?.decode((String, Int, Int).self)
    }

    static func checkResult(_ stack: PipelineStack, _ connection: String, _ model: String) async throws -> String? {
        try await stack.sql("SELECT drift_check_result FROM sync_state WHERE connection_id = '\(connection)' AND model = '\(model)'")
            .first?.decode(String?.self)
    }

    /// Ten records commit late behind Nango's cursor: the incremental sync never sees them and succeeds. The check after
    /// it finds Nango holding ten more, opens a drift and asks one full re-read, which finds them; the check after that
    /// heals the drift, and the company shows it healed.
    @Test func aLateCommitIsFoundAndHealedByOneFullReread() async throws {
        try await PipelineStack.with { stack in
            let company = try await stack.connect("xero", "late", models: 2)
            #expect(try await Self.checkResult(stack, "late", "Contact")?.hasPrefix("agreed") == true, "the first complete read was checked")
            let before = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL")
            _ = try await stack.control(.POST, "/connections/late/changes", #"{"provider_config_key": "xero", "model": "Contact", "add": 15, "late": 10}"#)
            try await stack.eventually("healed") { try await Self.drift(stack, company, "Contact")?.state == "healed" }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            let healed = try #require(try await Self.drift(stack, company, "Contact"))
            #expect(healed.nango == healed.ours)
            #expect(try await stack.int("SELECT count(*)::int FROM full_resyncs WHERE connection_id = 'late' AND reason LIKE 'drift:%'") == 1,
                    "one full re-read")
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL") > before + 5)
            let token = try await stack.dependencies.tokens.companyToken(try #require(UUID(uuidString: company)), subject: "drift")
            let answer = try JSONValue.parse(Array(try await stack.get("/api/companies/\(company)", token: token).body.utf8))
            #expect(answer["drift"]?["Contact"]?["state"]?.string == "healed")
            #expect(answer["drift"]?["Contact"]?["healed_at"]?.string != nil)
            let listed = try JSONValue.parse(Array(try await stack.admin(.GET, "/api/admin/drift?state=healed").body.utf8))
            guard case .array(let drifts)? = listed["data"] else { Issue.record("no drift list"); return }
            #expect(drifts.count == 1)
            #expect(drifts.first?["model"]?.string == "Contact")
        }
    }

    /// A row a re-read cannot take away (written after the re-read began) keeps our count one above Nango's: the drift
    /// stays open after its one re-read, `sync.drift_detected` goes out once, and later checks start no re-read.
    @Test func aDriftARereadCannotHealStaysOpenAnnouncedOnceWithoutALoop() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { receiver.stop() }
        try await PipelineStack.with(OutboundWebhookTests.settings) { stack in
            let created = try await stack.admin(.POST, "/api/admin/webhook-endpoints",
                                                json: #"{"url": "\#(receiver.url("drift"))", "event_types": ["sync.drift_detected"]}"#)
            try await receiver.configure("drift", secrets: [try #require(created.body["secret"]?.string)])
            let company = try await stack.connect("xero", "stuck", models: 2)
            _ = try await stack.sql("""
                INSERT INTO contacts (company_id, source_model, external_id, content_hash, raw, display_name, updated_at)
                VALUES ('\(company)', 'Contact', 'ghost', 'g', '{"id": "ghost"}', 'Ghost', now() + interval '1 day')
                """)
            #expect(try await stack.admin(.POST, "/api/admin/drift/check?company_id=\(company)").status == 202)
            try await stack.eventually("announced") {
                try await stack.int("SELECT count(*)::int FROM sync_drift WHERE company_id = '\(company)' AND notified_at IS NOT NULL") == 1
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            // Ask again, twice: nothing moved, so nothing is re-read and nothing said again.
            for _ in 0..<2 {
                #expect(try await stack.admin(.POST, "/api/admin/drift/check?company_id=\(company)").status == 202)
                try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            }
            let open = try #require(try await Self.drift(stack, company, "Contact"))
            #expect(open.state == "open")
            #expect(open.ours == open.nango + 1)
            #expect(try await stack.int("SELECT count(*)::int FROM full_resyncs WHERE connection_id = 'stuck' AND reason LIKE 'drift:%'") == 1,
                    "one re-read, no loop")
            try await stack.eventually("the message arrived") { try await receiver.received("drift").count == 1 }
            let told = try await receiver.received("drift")
            #expect(told.count == 1)
            #expect(told.first?.type == "sync.drift_detected")
            #expect(told.first?.json["data"]?["model"]?.string == "Contact")
            #expect(told.first?.json["data"]?["our_count"] == .number(Double(open.ours)))
            #expect(told.allSatisfy { $0.standard && $0.svix })
        }
    }

    /// While Nango's sync of the model runs, its count moves: the check is skipped and says why.
    @Test func aCheckDuringARunningNangoSyncIsSkippedWithItsReason() async throws {
        try await PipelineStack.with { stack in
            let company = try await stack.connect("xero", "busy", models: 2)
            _ = try await stack.control(.PUT, "/connections/busy/syncs", #"{"provider_config_key": "xero", "model": "Contact", "status": "RUNNING"}"#)
            _ = try await stack.sql("UPDATE sync_state SET drift_check_result = NULL WHERE connection_id = 'busy'")
            #expect(try await stack.admin(.POST, "/api/admin/drift/check?company_id=\(company)").status == 202)
            try await stack.eventually("both models checked") {
                let contact = try await Self.checkResult(stack, "busy", "Contact"), item = try await Self.checkResult(stack, "busy", "Item")
                return contact != nil && item != nil
            }
            #expect(try await Self.checkResult(stack, "busy", "Contact") == "skipped: Nango's sync is running")
            #expect(try await Self.checkResult(stack, "busy", "Item")?.hasPrefix("agreed") == true)
            #expect(try await Self.drift(stack, company, "Contact") == nil)
        }
    }

    /// Records Nango served pruned that we never stored, and records in quarantine, are records we hold: no drift.
    @Test func prunedAndQuarantinedRecordsNeverCountAsDrift() async throws {
        try await PipelineStack.with(records: 60) { stack in
            let company = try await stack.connect("hubspot", "kept", models: 3)
            #expect(try await stack.int("SELECT count(*)::int FROM quarantine WHERE company_id = '\(company)' AND status = 'open'") > 0,
                    "the catalog's broken contacts are in quarantine")
            // New records whose webhook is lost, pruned at Nango before we read them: served pruned, never stored.
            _ = try await stack.control(.PUT, "/faults", #"{"bad_signature_next": 1}"#)
            _ = try await stack.control(.POST, "/connections/kept/changes", #"{"provider_config_key": "hubspot", "model": "Contact", "add": 5}"#)
            _ = try await stack.control(.POST, "/connections/kept/prune", #"{"provider_config_key": "hubspot", "model": "Contact"}"#)
            _ = try await stack.sql("UPDATE sync_state SET drift_check_result = NULL WHERE connection_id = 'kept'")
            let token = try await stack.dependencies.tokens.companyToken(try #require(UUID(uuidString: company)), subject: "drift")
            var request = HTTPClientRequest(url: stack.appURL + "/api/companies/\(company)/sync")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            #expect(try await HTTPClient.shared.execute(request, timeout: .seconds(30)).status == .accepted)
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            #expect(try await stack.int("SELECT count(*)::int FROM pruned_records WHERE company_id = '\(company)' AND model = 'Contact'") >= 5)
            // The sync's complete read was checked; ops' check finds the same.
            #expect(try await Self.checkResult(stack, "kept", "Contact")?.hasPrefix("agreed") == true)
            _ = try await stack.sql("UPDATE sync_state SET drift_check_result = NULL WHERE connection_id = 'kept'")
            #expect(try await stack.admin(.POST, "/api/admin/drift/check?company_id=\(company)").status == 202)
            try await stack.eventually("checked") { try await Self.checkResult(stack, "kept", "Contact") != nil }
            let result = try await Self.checkResult(stack, "kept", "Contact")
            #expect(result?.hasPrefix("agreed") == true, "\(result ?? "")")
            #expect(try await stack.int("SELECT count(*)::int FROM sync_drift WHERE company_id = '\(company)'") == 0)
        }
    }

    /// Two instances' schedulers find the drift check due at once: one runs it.
    @Test func twoInstancesRunTheScheduledCheckOnce() async throws {
        try await TestDatabase.withClient { database in
            let registry = PipelineRegistry(path: PipelineLoaderTestsPath.file)
            _ = registry.reload()
            let nango = NangoClient(configuration: .init(baseURL: "http://127.0.0.1:9", secretKey: Secret("unused")), logger: TestEnvironment.logger)
            let drift = DriftCheck(database: database, nango: nango, registry: registry)
            var jobs = AppConfiguration.Jobs.standard
            jobs.driftCheckInterval = .seconds(3600)
            let tasks = ScheduledTasks.standard(database: database, registry: registry, configuration: jobs, drift: drift)
                .filter { $0.name == ScheduledTasks.driftCheck }
            try #require(tasks.count == 1)
            let first = SchedulerService(database: database, tasks: tasks, logger: TestEnvironment.logger)
            let second = SchedulerService(database: database, tasks: tasks, logger: TestEnvironment.logger)
            async let a: Void = first.runDueTasks()
            async let b: Void = second.runDueTasks()
            _ = await (a, b)
            let runs = try await database.query("SELECT runs::int FROM scheduled_tasks WHERE name = 'drift_check'", logger: TestEnvironment.logger)
            #expect(try runs.first?.decode(Int.self) == 1)
        }
    }
}
