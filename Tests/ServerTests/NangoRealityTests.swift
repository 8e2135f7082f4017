import AsyncHTTPClient
import Foundation
import MarketplaceCore
import Nango
import NIOCore
import NIOHTTP1
import Pipeline
import PostgresNIO
import Prometheus
import Storage
import Testing
import TestSupport
import Tokens

@testable import NangoEmulator
@testable import Server

/// The service against Nango as real deployments meet it (docs/nango.md §5): rate-limit windows, pruned and
/// hard-deleted records, full resyncs, records Postgres cannot hold, connections' lives, scoped keys.
/// Each test runs the whole stack: the emulator sending signed webhooks to the live app and its workers.
@Suite(.serialized, .timeLimit(.minutes(10))) struct NangoRealityTests {
    typealias Stack = PipelineStack

    /// A xero connection at the emulator, its two models' first syncs done and the queue settled.
    static func connectXero(_ stack: Stack, _ connection: String) async throws {
        try await stack.connect("xero", connection, models: 2)
    }

    static func text(_ stack: Stack, _ query: String) async throws -> String? {
        for row in try await stack.sql(query) { return try row.decode(String?.self) }
        return nil
    }

    static func texts(_ stack: Stack, _ query: String) async throws -> Set<String> {
        var values = Set<String>()
        for row in try await stack.sql(query) { values.insert(try row.decode(String.self)) }
        return values
    }

    /// Signed as the emulator signs, posted to the app as Nango posts.
    static func postWebhook(_ stack: Stack, _ body: String) async throws -> UInt {
        var request = HTTPClientRequest(url: stack.appURL + "/webhooks/nango")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: NangoWebhookSignature.hmacHeader, value: NangoWebhookSignature.hmac(body: Array(body.utf8), key: PipelineStack.webhookSecret))
        request.body = .bytes(ByteBuffer(string: body))
        return try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status.code
    }

    /// Nango's window, a few requests long and two seconds wide: three connections' syncs (seven models) at once
    /// meet it again and again. None dies, each finishes on its first attempt, every record lands.
    @Test func syncsThroughRateLimitWindowsFinishOnTheirFirstAttemptAndLoseNothing() async throws {
        try await PipelineStack.with(["NANGO_RATE_LIMIT_JITTER_MS": "300"]) { stack in
            _ = try await stack.control(.PUT, "/rate-limit", #"{"limit": 3, "window_seconds": 2}"#)
            for (integration, id) in [("xero", "rl-x"), ("hubspot", "rl-h"), ("quickbooks", "rl-q")] {
                _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "\#(integration)", "connection_id": "\#(id)"}"#)
            }
            try await stack.eventually("every model synced", timeout: .seconds(180)) {
                try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id LIKE 'rl-%' AND last_success_at IS NOT NULL") == 7
            }
            try await stack.eventually("jobs settled", timeout: .seconds(60)) { try await stack.jobsSettled() }
            #expect(await stack.emulator.state.rateLimitedAnswers > 0, "the window was met")
            _ = try await stack.control(.PUT, "/rate-limit", #"{"limit": 100000, "window_seconds": 60}"#)
            #expect(try await stack.int("SELECT count(*)::int FROM jobs WHERE status = 'dead'") == 0)
            let syncs = try await stack.int("SELECT count(*)::int FROM jobs WHERE kind = 'sync.run' AND payload->>'connection_id' LIKE 'rl-%'")
            #expect(syncs >= 7)
            #expect(try await stack.int("SELECT count(*)::int FROM jobs WHERE kind = 'sync.run' AND attempts <> 1") == 0, "a 429 costs no attempt")
            for (integration, model, connection) in [("xero", "Contact", "rl-x"), ("hubspot", "Contact", "rl-h"), ("quickbooks", "Customer", "rl-q")] {
                let company = try await stack.company(connection)
                let expected = try await stack.served(integration, model, connection: connection)
                #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL") == expected.kept.count,
                        "\(integration)")
            }
        }
    }

    /// The issue's end-to-end case: after pruning and hard deletes, a full resync through 429 windows converges to
    /// exactly Nango's live records, with no blank row, and the incremental checkpoint stays where it was.
    @Test func prunedAndHardDeletedRecordsAndAFullResyncConvergeToNangosLiveRecords() async throws {
        try await PipelineStack.with(["NANGO_RATE_LIMIT_JITTER_MS": "300"]) { stack in
            try await Self.connectXero(stack, "fr-1")
            let company = try await stack.company("fr-1")
            let initial = try await stack.served("xero", "Contact", connection: "fr-1")
            let stored = Set(initial.kept)
            try #require(stored.count >= 10)
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'") == stored.count)
            let checkpoint = try await Self.text(stack, "SELECT cursor FROM sync_state WHERE connection_id = 'fr-1' AND model = 'Contact'")

            // Nango drops three stored records and one quarantined record outright (never DELETED), then prunes every
            // record's payload.
            let gone = Array(stored.sorted().prefix(3))
            let goneQuarantined = try #require(initial.broken.first)
            _ = try await stack.control(.POST, "/connections/fr-1/hard-delete", #"""
                {"provider_config_key": "xero", "model": "Contact", "ids": ["\#((gone + [goneQuarantined]).joined(separator: "\", \""))"]}
                """#)
            _ = try await stack.control(.POST, "/connections/fr-1/prune", #"{"provider_config_key": "xero", "model": "Contact"}"#)
            _ = try await stack.control(.PUT, "/rate-limit", #"{"limit": 2, "window_seconds": 2}"#)

            let (status, body) = try await stack.admin(.POST, "/api/admin/pipelines/xero-contacts/full-resync")
            #expect(status == 202, "\(body)")
            try await stack.eventually("the full resync finished", timeout: .seconds(120)) {
                try await stack.int("SELECT count(*)::int FROM full_resyncs WHERE connection_id = 'fr-1' AND finished_at IS NOT NULL") == 1
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            _ = try await stack.control(.PUT, "/rate-limit", #"{"limit": 100000, "window_seconds": 60}"#)
            #expect(await stack.emulator.state.rateLimitedAnswers > 0, "the read met the window")

            // Exactly Nango's live records that the pipeline accepts, no more.
            let live = Set(try #require(await stack.emulator.state.stream("fr-1", integration: "xero", model: "Contact")).liveIds())
            let quarantined = Set(initial.broken)
            let rows = try await Self.texts(stack, "SELECT external_id FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL")
            #expect(rows == live.subtracting(quarantined))
            #expect(rows == stored.subtracting(gone))
            #expect(try await Self.texts(stack, "SELECT external_id FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NOT NULL") == Set(gone))
            // No row blanked or overwritten by a pruned payload.
            #expect(try await stack.int("""
                SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'
                  AND (display_name IS NULL OR display_name = '' OR raw = jsonb_build_object('id', raw->>'id'))
                """) == 0)
            // Pruned records are neither bad data nor changes; those never stored are counted. The quarantined record Nango
            // dropped has nothing left to fix: its entry closed with the read.
            #expect(try await stack.int("SELECT count(*)::int FROM quarantine WHERE connection_id = 'fr-1' AND status = 'open'") == initial.broken.count - 1)
            #expect(try await Self.texts(stack, "SELECT external_id FROM quarantine WHERE connection_id = 'fr-1' AND status = 'resolved'") == [goneQuarantined])
            let run = try await stack.sql("""
                SELECT r.deleted, r.upserted, r.pruned_skipped FROM pipeline_runs r JOIN jobs j ON j.id = r.job_id
                WHERE j.kind = 'sync.full_resync' AND r.pipeline = 'xero-contacts'
                """)
            try #require(run.count == 1)
            let (deleted, upserted, prunedSkipped) = try run[0].decode((Int, Int, Int).self)
            #expect(deleted == 3)
            #expect(upserted == 0, "a pruned record is no change")
            #expect(prunedSkipped == initial.broken.filter { live.contains($0) }.count)
            #expect(try await stack.int("SELECT deleted FROM full_resyncs WHERE connection_id = 'fr-1'") == 3)
            #expect(try await stack.int("SELECT count(*)::int FROM full_resync_seen") == 0, "marks go once the resync is done")
            // The incremental checkpoint never moved.
            #expect(try await Self.text(stack, "SELECT cursor FROM sync_state WHERE connection_id = 'fr-1' AND model = 'Contact'") == checkpoint)
        }
    }

    /// A full resync whose read is interrupted deletes nothing, and resumes to completion; a pipeline's
    /// `full_resync` schedule queues one by itself once the model's last complete read is older than it.
    @Test func anInterruptedFullResyncDeletesNothingAndTheScheduleQueuesOne() async throws {
        try await PipelineStack.with(pipelines: { $0.replacingOccurrences(
            of: "source: { provider: xero, model: Contact }", with: "source: { provider: xero, model: Contact, full_resync: 1h }") }) { stack in
            try await Self.connectXero(stack, "ir-1")
            let company = try await stack.company("ir-1")
            let rows = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL")
            _ = try await stack.control(.POST, "/connections/ir-1/hard-delete", #"{"provider_config_key": "xero", "model": "Contact", "count": 2}"#)

            // Nango fails every call: the read stops, the job dies, nothing is deleted.
            _ = try await stack.control(.PUT, "/faults", #"{"rate_500": 1.0}"#)
            let (status, _) = try await stack.admin(.POST, "/api/admin/pipelines/xero-contacts/full-resync?company_id=\(company)")
            #expect(status == 202)
            try await stack.eventually("the resync job is dead", timeout: .seconds(90)) {
                try await stack.int("SELECT count(*)::int FROM jobs WHERE kind = 'sync.full_resync' AND status = 'dead'") == 1
            }
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL") == rows)
            #expect(try await stack.int("SELECT count(*)::int FROM full_resyncs WHERE finished_at IS NULL") == 1)

            // Nango is back: the retried job completes the same resync and deletes the two.
            _ = try await stack.control(.DELETE, "/faults")
            let dead = try await stack.int("SELECT id::int FROM jobs WHERE kind = 'sync.full_resync' AND status = 'dead'")
            #expect(try await stack.admin(.POST, "/api/admin/jobs/\(dead)/retry").status == 202)
            try await stack.eventually("the resync finished") {
                try await stack.int("SELECT count(*)::int FROM full_resyncs WHERE finished_at IS NOT NULL AND deleted = 2") == 1
            }
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL") == rows - 2)

            // The schedule: with the last complete read (the resync above) pushed two hours back, the hourly round queues one.
            _ = try await stack.sql("UPDATE full_resyncs SET finished_at = now() - interval '2 hours'")
            try await stack.dependencies.database.withConnection { db in
                try await ScheduledTasksTable.makeDue(name: ScheduledTasks.fullResync, on: db, logger: TestEnvironment.logger)
            }
            try await stack.eventually("the schedule queued and ran one") {
                try await stack.int("SELECT count(*)::int FROM full_resyncs WHERE reason = 'schedule' AND finished_at IS NOT NULL") == 1
            }
            // Only the model whose pipeline asks for it: xero's Item has no schedule.
            #expect(try await stack.int("SELECT count(*)::int FROM full_resyncs WHERE model <> 'Contact'") == 0)
        }
    }

    /// Only a webhook saying Nango started over after our last complete read calls for a full resync: not one
    /// without checkpoints, not one whose checkpoints continue.
    @Test func aWebhookSayingNangoStartedOverQueuesAFullResync() async throws {
        try await PipelineStack.with { stack in
            try await Self.connectXero(stack, "so-1")
            // Nango's run starts now: after our last complete read, whenever that ended (a loaded machine is slow).
            func webhook(_ checkpoints: String?, _ marker: Int) -> String {
                let now = ISO8601DateFormatter().string(from: Date().addingTimeInterval(1))
                return #"{\#(checkpoints.map { #""checkpoints":\#($0),"# } ?? "")"connectionId":"so-1","from":"nango","model":"Contact","modifiedAfter":"\#(now)","providerConfigKey":"xero","queryTimeStamp":"\#(now)","responseResults":{"added":\#(marker),"deleted":0,"updated":0},"success":true,"syncName":"contacts","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}"#
            }
            #expect(try await Self.postWebhook(stack, webhook(nil, 1)) == 200)
            #expect(try await Self.postWebhook(stack, webhook(#"{"from":{"updated_after":"2026-04-30T09:00:00Z"},"to":{"updated_after":"2026-05-01T09:00:00Z"}}"#, 2)) == 200)
            try await stack.eventually("the two syncs ran") { try await stack.jobsSettled() }
            #expect(try await stack.int("SELECT count(*)::int FROM full_resyncs") == 0)
            #expect(try await Self.postWebhook(stack, webhook(#"{"from":null,"to":{"updated_after":"2026-05-01T09:00:00Z"}}"#, 3)) == 200)
            try await stack.eventually("a full resync ran to the end") {
                try await stack.int("SELECT count(*)::int FROM full_resyncs WHERE connection_id = 'so-1' AND model = 'Contact' AND reason = 'Nango started over' AND finished_at IS NOT NULL") == 1
            }
            #expect(try await stack.int("SELECT count(*)::int FROM full_resyncs") == 1)
        }
    }

    /// Nango's run started a minute before its webhook arrives, and our own run ended in between: records Nango dropped
    /// when it started over still never arrive as DELETED, so the full re-read is owed all the same. (Comparing the
    /// restart with our last successful run skipped it.)
    @Test func aRestartOlderThanOurLastRunStillQueuesAFullResync() async throws {
        try await PipelineStack.with { stack in
            try await Self.connectXero(stack, "so-2")
            try await stack.eventually("the first sync ran") { try await stack.jobsSettled() }
            let aMinuteAgo = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-60))
            let body = #"{"checkpoints":{"from":null,"to":{"updated_after":"2026-05-01T09:00:00Z"}},"connectionId":"so-2","from":"nango","model":"Contact","modifiedAfter":"\#(aMinuteAgo)","providerConfigKey":"xero","queryTimeStamp":"\#(aMinuteAgo)","responseResults":{"added":0,"deleted":0,"updated":0},"success":true,"syncName":"contacts","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}"#
            #expect(try await Self.postWebhook(stack, body) == 200)
            try await stack.eventually("a full resync ran to the end") {
                try await stack.int("SELECT count(*)::int FROM full_resyncs WHERE connection_id = 'so-2' AND model = 'Contact' AND finished_at IS NOT NULL") == 1
            }
            #expect(try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'so-2' AND nango_restarted_at IS NOT NULL") == 0,
                    "the full re-read that started after the restart cleared its mark")
        }
    }

    /// A string with U+0000, a lone surrogate escape, a number past a double's range: each record goes to
    /// quarantine with its reason, the rest of its page lands and the checkpoint reaches the stream's end.
    @Test func recordsPostgresCannotHoldAreQuarantinedAndTheModelMovesOn() async throws {
        try await PipelineStack.with { stack in
            try await Self.connectXero(stack, "px-1")
            var poisoned: [String: String] = [:]
            for kind in ["nul", "lone_surrogate", "huge_number"] {
                let answer = try JSONValue.parse(Array(try await stack.control(
                    .POST, "/connections/px-1/poison", #"{"provider_config_key": "xero", "model": "Contact", "kind": "\#(kind)"}"#).utf8))
                poisoned[kind] = try #require(answer["id"]?.string)
            }
            try #require(Set(poisoned.values).count == 3)
            // A change set of one more record, with its webhook: the sync reads the three poisoned ones too.
            _ = try await stack.control(.POST, "/connections/px-1/changes", #"{"provider_config_key": "xero", "model": "Contact", "add": 1}"#)
            try await stack.eventually("the three are quarantined", timeout: .seconds(60)) {
                try await stack.int("SELECT count(*)::int FROM quarantine WHERE connection_id = 'px-1' AND external_id IN ('\(poisoned.values.joined(separator: "','"))') AND status = 'open'") == 3
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            #expect(try await stack.int("SELECT count(*)::int FROM jobs WHERE status IN ('dead', 'failed')") == 0)
            let reasons = try await Self.texts(stack, """
                SELECT external_id || ': ' || (reasons->0->>'message') FROM quarantine WHERE connection_id = 'px-1' AND external_id IN ('\(poisoned.values.joined(separator: "','"))')
                """)
            #expect(reasons == [
                "\(poisoned["nul"]!): a string holds U+0000 (NUL), which Postgres cannot store",
                "\(poisoned["lone_surrogate"]!): a string holds a lone surrogate escape (half of a UTF-16 pair), which is not valid Unicode",
                "\(poisoned["huge_number"]!): a number is out of range",
            ])
            // The checkpoint reached the stream's end: the record added after them landed.
            let stream = try #require(await stack.emulator.state.stream("px-1", integration: "xero", model: "Contact"))
            let last = stream.page(.init(after: nil, modifiedAfter: nil, limit: 10_000, actions: nil, ids: nil)).last
            #expect(try await Self.text(stack, "SELECT cursor FROM sync_state WHERE connection_id = 'px-1' AND model = 'Contact'") == last?.position.cursor)
        }
    }

    /// A company's status follows its connection at Nango: refresh failure pauses its syncs, reconnecting resumes
    /// them from their checkpoints, a connection Nango no longer has disconnects it with its data kept. The API shows it.
    @Test func aCompanysStatusFollowsItsConnectionsLife() async throws {
        try await PipelineStack.with { stack in
            try await Self.connectXero(stack, "life")
            let company = try await stack.company("life")
            let token = try await stack.dependencies.tokens.companyToken(try #require(UUID(uuidString: company)), subject: "test")
            let first = try JSONValue.parse(Array(try await stack.get("/api/companies/\(company)", token: token).body.utf8))
            #expect(first["status"]?.string == "active")
            #expect(first["data_as_of"]?["Contact"]?.string != nil)

            // The provider revokes the grant: Nango's refresh fails, and says so.
            _ = try await stack.control(.POST, "/connections/life/revoke", #"{"provider_config_key": "xero"}"#)
            try await stack.eventually("refresh_failed") {
                try await stack.int("SELECT count(*)::int FROM companies WHERE id = '\(company)' AND status = 'refresh_failed'") == 1
            }
            // Syncs pause: a change's webhook queues a sync that does nothing.
            _ = try await stack.control(.POST, "/connections/life/changes", #"{"provider_config_key": "xero", "model": "Contact", "add": 2}"#)
            try await stack.eventually("the paused sync ended cancelled") {
                try await stack.int("SELECT count(*)::int FROM jobs WHERE kind = 'sync.run' AND payload->>'connection_id' = 'life' AND status = 'cancelled'") >= 1
            }
            let paused = try JSONValue.parse(Array(try await stack.get("/api/companies/\(company)", token: token).body.utf8))
            #expect(paused["status"]?.string == "refresh_failed")

            // The customer reconnects: active again, and the syncs resume from their checkpoints.
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "xero", "connection_id": "life"}"#)
            try await stack.eventually("active again") {
                try await stack.int("SELECT count(*)::int FROM companies WHERE id = '\(company)' AND status = 'active'") == 1
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            // Ops refresh every connection's credentials: this one refreshes, and /metrics counts it.
            let (refreshStatus, _) = try await stack.admin(.POST, "/api/admin/tokens/refresh-all")
            #expect(refreshStatus == 202)
            try await stack.eventually("the refresh counted") {
                var bytes: [UInt8] = []
                stack.dependencies.metricsRegistry.emit(into: &bytes)
                return String(decoding: bytes, as: UTF8.self).contains(#"token_refresh_total{outcome="success"} 1"#)
            }
            let expected = try await stack.served("xero", "Contact", connection: "life")
            try await stack.eventually("the paused change landed") {
                try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'") == expected.kept.count
            }

            // Nango no longer has the connection: disconnected, its rows kept.
            let rowsBefore = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'")
            #expect(await stack.emulator.state.deleteConnection("life", integration: "xero"))
            let (syncStatus, _) = try await stack.admin(.POST, "/api/admin/pipelines/xero-contacts/backfill?company_id=\(company)")
            #expect(syncStatus == 202)
            try await stack.eventually("disconnected") {
                try await stack.int("SELECT count(*)::int FROM companies WHERE id = '\(company)' AND status = 'disconnected'") == 1
            }
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'") == rowsBefore)
            // The company's own token: while this instance still remembers the company's state from before (at most
            // `CompanyTokenCheck`'s 2 s) the company answers as disconnected; after that the token is refused as a
            // disconnected company's. On a loaded machine either can come first.
            let gone = try await stack.get("/api/companies/\(company)", token: token)
            if gone.status == 200 {
                #expect(try JSONValue.parse(Array(gone.body.utf8))["status"]?.string == "disconnected")
            } else {
                #expect(gone.status == 401)
                #expect(gone.body.contains("disconnected"), "\(gone.body)")
            }
        }
    }

    /// A secret key without the read-credentials scope: Nango answers `credentials: {}`. The company is stored
    /// without a token, marked so, and its records sync all the same.
    @Test func aScopedKeyStoresTheCompanyWithoutCredentialsAndSyncsAnyway() async throws {
        try await PipelineStack.with { stack in
            _ = try await stack.control(.PUT, "/faults", #"{"scoped_key": true}"#)
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "xero", "connection_id": "scoped"}"#)
            try await stack.eventually("synced") {
                try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'scoped' AND last_success_at IS NOT NULL") == 2
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            let company = try await stack.company("scoped")
            #expect(try await stack.int("SELECT count(*)::int FROM companies WHERE id = '\(company)' AND NOT credentials_available AND status = 'active'") == 1)
            #expect(try await stack.int("SELECT count(*)::int FROM connection_credentials WHERE company_id = '\(company)'") == 0)
            let expected = try await stack.served("xero", "Contact", connection: "scoped")
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'") == expected.kept.count)
            #expect(try await stack.int("SELECT count(*)::int FROM jobs WHERE status = 'dead'") == 0)
        }
    }
}
