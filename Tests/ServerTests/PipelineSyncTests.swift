import Tokens
import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MarketplaceCore
import Nango
import NIOCore
import NIOHTTP1
import Pipeline
import PostgresNIO
import ServiceLifecycle
import Storage
import Synchronization
import Testing
import TestSupport

@testable import NangoEmulator
@testable import Server

/// The pipeline end to end: the emulator as Nango sending real signed webhooks to the live app, the
/// app's own workers and scheduler, a database of the test's own.
@Suite(.serialized, .timeLimit(.minutes(10))) struct PipelineSyncTests {
    @Test func aNewConnectionsInitialSyncLandsExactlyTheEmulatorsRecords() async throws {
        try await PipelineStack.with { stack in
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "hubspot", "connection_id": "acme"}"#)
            try await stack.eventually("three syncs done") {
                try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'acme' AND last_success_at IS NOT NULL") == 3
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            let company = try await stack.company("acme")
            let contacts = try await stack.served("hubspot", "Contact", connection: "acme")
            #expect(contacts.kept.count + contacts.broken.count == 30)
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'") == contacts.kept.count)
            let quarantined = try await stack.sql("""
                SELECT external_id FROM quarantine WHERE connection_id = 'acme' AND pipeline = 'hubspot-contacts' AND status = 'open' ORDER BY external_id
                """).map { try $0.decode(String.self) }
            #expect(quarantined == contacts.broken)
            let products = try await stack.served("hubspot", "Product", connection: "acme")
            #expect(try await stack.int("SELECT count(*)::int FROM products WHERE company_id = '\(company)'") == products.kept.count)
            let locations = try await stack.served("hubspot", "Company", connection: "acme")
            #expect(try await stack.int("SELECT count(*)::int FROM locations WHERE company_id = '\(company)'") == locations.kept.count)

            // Spot values, written out by hand from the emulator's records: the domain lower-cased and the local part
            // kept, white space trimmed, a US number in E.164, and a local number of another country dropped (the
            // pipeline's default region is the US).
            let spots = try await stack.sql("""
                SELECT external_id, email, phone, display_name FROM contacts WHERE company_id = '\(company)'
                AND external_id IN ('713492963559', '713492963562', '713492963565') ORDER BY external_id
                """).map { try $0.decode((String, String?, String?, String?).self) }
            try #require(spots.count == 3)
            // Raw: "ROSA.TANAKA@falconllc.example", "03-6297-0816".
            #expect(spots[0] == ("713492963559", "ROSA.TANAKA@falconllc.example", nil, "Rosa Tanaka"))
            // Raw: "françois@Graniteshop.Example", "(336) 222-5290".
            #expect(spots[1] == ("713492963562", "françois@graniteshop.example", "+13362225290", "François Dubois"))
            // Raw: "bill.dubois@falcongmbh.example\t", "+81 3-6725-2021".
            #expect(spots[2] == ("713492963565", "bill.dubois@falcongmbh.example", "+81367252021", "Bill Dubois"))
            // Runs and the checkpoint: several pages, all counted.
            #expect(try await stack.int("SELECT sum(fetched)::int FROM pipeline_runs WHERE pipeline = 'hubspot-contacts'") == 30)
            #expect(try await stack.int("SELECT count(*)::int FROM pipeline_runs WHERE outcome <> 'succeeded'") == 0)
            #expect(try await stack.int("SELECT records_fetched::int FROM sync_state WHERE connection_id = 'acme' AND model = 'Contact'") == 30)
            #expect(try await stack.int("SELECT count(*)::int FROM webhook_events WHERE status = 'processed'") >= 1)
        }
    }

    /// Nango scopes connection ids per integration: one id under HubSpot and Salesforce is two companies, with
    /// two credentials and a checkpoint each, and each company's token sees its own rows only.
    @Test func theSameConnectionIdUnderTwoIntegrationsIsTwoCompanies() async throws {
        try await PipelineStack.with { stack in
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "hubspot", "connection_id": "shared"}"#)
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "salesforce", "connection_id": "shared"}"#)
            // HubSpot's pipelines read three models, Salesforce's two.
            try await stack.eventually("both companies' syncs done") {
                try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'shared' AND last_success_at IS NOT NULL") == 5
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            #expect(try await stack.int("SELECT count(*)::int FROM companies WHERE connection_id = 'shared'") == 2)
            #expect(try await stack.int("""
                SELECT count(DISTINCT cc.token_fingerprint)::int FROM connection_credentials cc JOIN companies c ON c.id = cc.company_id
                WHERE c.connection_id = 'shared'
                """) == 2)
            #expect(try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'shared' AND model = 'Contact' AND cursor IS NOT NULL") == 2)
            let hubspot = try await stack.company("shared", integration: "hubspot")
            let salesforce = try await stack.company("shared", integration: "salesforce")
            // Every one of each integration's 30 contacts landed, as a row or in quarantine.
            for company in [hubspot, salesforce] {
                let rows = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'")
                let quarantined = try await stack.int("SELECT count(*)::int FROM quarantine WHERE company_id = '\(company)' AND model = 'Contact' AND status = 'open'")
                #expect(rows > 0)
                #expect(rows + quarantined == 30)
            }
            // Each company's token: its own contacts, and the other company is not there.
            for (own, other) in [(hubspot, salesforce), (salesforce, hubspot)] {
                let token = try await stack.dependencies.tokens.companyToken(try #require(UUID(uuidString: own)), subject: "test")
                let mine = try await stack.get("/api/companies/\(own)/contacts?limit=100", token: token)
                #expect(mine.status == 200)
                let expected = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(own)' AND deleted_at IS NULL")
                #expect(mine.body.components(separatedBy: #""external_id""#).count - 1 == expected)
                #expect(try await stack.get("/api/companies/\(other)/contacts", token: token).status == 404)
            }
        }
    }

    @Test func aChangeSetLandsAfterItsWebhookAndAReplayChangesNothing() async throws {
        try await PipelineStack.with { stack in
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "quickbooks", "connection_id": "qb-1"}"#)
            try await stack.eventually("initial syncs") {
                try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'qb-1' AND last_success_at IS NOT NULL") == 2
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            let company = try await stack.company("qb-1")
            let before = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL")

            _ = try await stack.control(.POST, "/connections/qb-1/changes", #"{"provider_config_key": "quickbooks", "model": "Customer", "add": 5, "update": 4, "delete": 3}"#)
            let expected = try await stack.served("quickbooks", "Customer", connection: "qb-1")
            try await stack.eventually("the change set's sync ran") {
                let runs = try await stack.int("SELECT count(*)::int FROM pipeline_runs WHERE pipeline = 'quickbooks-customers' AND outcome = 'succeeded'")
                let settled = try await stack.jobsSettled()
                return runs >= 2 && settled
            }
            let live = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL")
            #expect(live == expected.kept.count)
            #expect(live != before)
            #expect(expected.deleted.count == 3)
            let deletedIds = expected.deleted.map { "'\($0)'" }.joined(separator: ",")
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND external_id IN (\(deletedIds)) AND deleted_at IS NULL") == 0)
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND external_id IN (\(deletedIds))") >= 2)
            let updatedNames = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND display_name LIKE '%(1)'")
            #expect(updatedNames >= 1)

            // The same sync again, from the checkpoint and from the very start: nothing changes.
            let fingerprint = "SELECT md5(string_agg(external_id || coalesce(display_name, '') || updated_at::text || coalesce(deleted_at::text, ''), ',' ORDER BY external_id)) FROM contacts"
            var snapshot = ""
            for row in try await stack.sql(fingerprint) { snapshot = try row.decode(String.self) }
            #expect(snapshot.count == 32, "a fingerprint of the stored contacts")
            try await stack.dependencies.database.withConnection { db in
                _ = try await JobsTable.enqueue(SyncJob(ConnectionIdentity(integrationId: "quickbooks", connectionId: "qb-1"), model: "Customer", reason: "test").newJob(),
                                                eventID: nil, on: db, logger: TestEnvironment.logger)
            }
            try await stack.eventually("replay done") { try await stack.jobsSettled() }
            _ = try await stack.sql("UPDATE sync_state SET cursor = NULL WHERE connection_id = 'qb-1' AND model = 'Customer'")
            try await stack.dependencies.database.withConnection { db in
                _ = try await JobsTable.enqueue(SyncJob(ConnectionIdentity(integrationId: "quickbooks", connectionId: "qb-1"), model: "Customer", reason: "test").newJob(),
                                                eventID: nil, on: db, logger: TestEnvironment.logger)
            }
            try await stack.eventually("full replay done") {
                let settled = try await stack.jobsSettled()
                let runs = try await stack.int("SELECT count(*)::int FROM pipeline_runs WHERE pipeline = 'quickbooks-customers' AND outcome = 'succeeded'")
                return settled && runs >= 4
            }
            var after = ""
            for row in try await stack.sql(fingerprint) { after = try row.decode(String.self) }
            #expect(after == snapshot)
            let lastRun = try await stack.sql("SELECT fetched, upserted FROM pipeline_runs WHERE pipeline = 'quickbooks-customers' ORDER BY id DESC LIMIT 1")
            #expect(lastRun.count == 1)
            for row in lastRun {
                let (fetched, upserted) = try row.decode((Int, Int).self)
                #expect(fetched > 0)
                #expect(upserted == 0)
            }
        }
    }

    @Test func aChangeSetWhoseWebhookWasLostLandsThroughReconciliation() async throws {
        try await PipelineStack.with(["SYNC_MAX_AGE": "1"]) { stack in
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "xero", "connection_id": "xero-1"}"#)
            try await stack.eventually("initial syncs") {
                try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'xero-1' AND last_success_at IS NOT NULL") == 2
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            let company = try await stack.company("xero-1")
            let before = try await stack.int("SELECT count(*)::int FROM products WHERE company_id = '\(company)'")
            // The sync webhook arrives with a bad signature: 401, which Nango does not retry. It is lost.
            _ = try await stack.control(.PUT, "/faults", #"{"bad_signature_next": 1}"#)
            _ = try await stack.control(.POST, "/connections/xero-1/changes", #"{"provider_config_key": "xero", "model": "Item", "add": 6}"#)
            try await stack.eventually("the change set's webhook refused and dropped") {
                try await stack.control(.GET, "/webhooks").contains(#""outcome":"dropped""#)
            }
            #expect(try await stack.int("SELECT count(*)::int FROM jobs WHERE kind = 'sync.run' AND status IN ('queued', 'running', 'failed')") == 0)
            #expect(try await stack.int("SELECT count(*)::int FROM products WHERE company_id = '\(company)'") == before)
            // Reconciliation finds the pair stale and syncs it.
            try await stack.dependencies.database.withConnection { db in
                try await ScheduledTasksTable.makeDue(name: ScheduledTasks.reconcile, on: db, logger: TestEnvironment.logger)
            }
            try await stack.eventually("reconciled", timeout: .seconds(30)) {
                try await stack.int("SELECT count(*)::int FROM products WHERE company_id = '\(company)'") == before + 6
            }
        }
    }

    @Test func nango429And5xxSlowASyncButLoseNothing() async throws {
        try await PipelineStack.with { stack in
            _ = try await stack.control(.PUT, "/faults", #"{"next_429": 3, "retry_after_seconds": 1, "next_500": 3}"#)
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "salesforce", "connection_id": "sf-1"}"#)
            try await stack.eventually("syncs done despite faults", timeout: .seconds(60)) {
                try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'sf-1' AND last_success_at IS NOT NULL") == 2
            }
            _ = try await stack.control(.DELETE, "/faults")
            let company = try await stack.company("sf-1")
            let expected = try await stack.served("salesforce", "Contact", connection: "sf-1")
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'") == expected.kept.count)
            // The companies target: the profile comes from the most recently modified Account.
            #expect(try await stack.int("SELECT count(*)::int FROM companies WHERE id = '\(company)' AND name IS NOT NULL") == 1)
        }
    }

    @Test func aRevokedGrantMarksTheCompanyRefreshFailedAndReconciliationLeavesItAlone() async throws {
        try await PipelineStack.with(["SYNC_MAX_AGE": "1"]) { stack in
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "xero", "connection_id": "revoked"}"#)
            try await stack.eventually("company stored") {
                try await stack.int("SELECT count(*)::int FROM companies WHERE connection_id = 'revoked' AND status = 'active'") == 1
            }
            _ = try await stack.control(.POST, "/connections/revoked/revoke", #"{"provider_config_key": "xero"}"#)
            try await stack.eventually("refresh_failed with the reason kept") {
                try await stack.int("SELECT count(*)::int FROM companies WHERE connection_id = 'revoked' AND status = 'refresh_failed' AND status_reason IS NOT NULL") == 1
            }
            // Reconciliation leaves companies that cannot sync alone, however stale; an active stale one beside it
            // shows that the round did run.
            try await stack.eventually("initial syncs over") { try await stack.jobsSettled() }
            _ = try await stack.sql("INSERT INTO companies (connection_id, integration_id, provider) VALUES ('control', 'xero', 'xero')")
            try await Task.sleep(for: .seconds(1))   // SYNC_MAX_AGE: the revoked company's pairs are stale now
            try await stack.dependencies.database.withConnection { db in
                try await ScheduledTasksTable.makeDue(name: ScheduledTasks.reconcile, on: db, logger: TestEnvironment.logger)
            }
            try await stack.eventually("the reconciliation round ran") {
                try await stack.int("SELECT count(*)::int FROM scheduled_tasks WHERE name = 'reconcile' AND runs >= 2 AND last_finished_at >= last_started_at") == 1
            }
            #expect(try await stack.int("SELECT count(*)::int FROM jobs WHERE payload->>'reason' = 'reconciliation' AND payload->>'connection_id' = 'control'") == 2)
            #expect(try await stack.int("SELECT count(*)::int FROM jobs WHERE payload->>'reason' = 'reconciliation' AND payload->>'connection_id' = 'revoked'") == 0)
        }
    }

    @Test func aConnectionNangoNoLongerKnowsIsDisconnectedAndItsSyncDead() async throws {
        try await PipelineStack.with { stack in
            _ = try await stack.sql("INSERT INTO companies (connection_id, integration_id, provider) VALUES ('gone', 'hubspot', 'hubspot')")
            let jobId = try await stack.dependencies.database.withConnection { db in
                try await JobsTable.enqueue(SyncJob(ConnectionIdentity(integrationId: "hubspot", connectionId: "gone"), model: "Contact", reason: "test").newJob(),
                                            eventID: nil, on: db, logger: TestEnvironment.logger)
            }
            try await stack.eventually("disconnected") {
                try await stack.int("SELECT count(*)::int FROM companies WHERE connection_id = 'gone' AND status = 'disconnected'") == 1
            }
            try await stack.eventually("dead after one attempt") {
                try await stack.int("SELECT count(*)::int FROM jobs WHERE id = \(jobId) AND status = 'dead' AND attempts = 1") == 1
            }
            // The stack's start-up reconciliation ran before the company existed: the test's job is its only one.
            #expect(try await stack.int("SELECT count(*)::int FROM jobs WHERE payload->>'connection_id' = 'gone'") == 1)
        }
    }

    /// The interleaving that made the test above flaky, forced: a sibling sync meets Nango's 404 first and
    /// disconnects the company; a sync that then finds the company disconnected ends cancelled (it did no
    /// work), not succeeded, and spends no retry.
    @Test func aSyncThatFindsItsCompanyDisconnectedEndsCancelled() async throws {
        try await PipelineStack.with { stack in
            _ = try await stack.sql("INSERT INTO companies (connection_id, integration_id, provider) VALUES ('gone', 'hubspot', 'hubspot')")
            let sibling = try await stack.dependencies.database.withConnection { db in
                try await JobsTable.enqueue(SyncJob(ConnectionIdentity(integrationId: "hubspot", connectionId: "gone"), model: "Product", reason: "test").newJob(),
                                            eventID: nil, on: db, logger: TestEnvironment.logger)
            }
            try await stack.eventually("the sibling met the 404") {
                try await stack.int("SELECT count(*)::int FROM jobs WHERE id = \(sibling) AND status = 'dead'") == 1
            }
            #expect(try await stack.int("SELECT count(*)::int FROM companies WHERE connection_id = 'gone' AND status = 'disconnected'") == 1)
            let late = try await stack.dependencies.database.withConnection { db in
                try await JobsTable.enqueue(SyncJob(ConnectionIdentity(integrationId: "hubspot", connectionId: "gone"), model: "Contact", reason: "test").newJob(),
                                            eventID: nil, on: db, logger: TestEnvironment.logger)
            }
            try await stack.eventually("the late sync finished") {
                try await stack.int("SELECT count(*)::int FROM jobs WHERE id = \(late) AND status NOT IN ('queued', 'running', 'failed')") == 1
            }
            let rows = try await stack.sql("SELECT status, attempts, last_error FROM jobs WHERE id = \(late)")
            #expect(rows.count == 1)
            for row in rows {
                let (status, attempts, error) = try row.decode((String, Int, String?).self)
                #expect(status == "cancelled")
                #expect(attempts == 1)
                #expect(error == "company is disconnected")
            }
            #expect(try await stack.int("SELECT count(*)::int FROM pipeline_runs WHERE connection_id = 'gone' AND model = 'Contact'") == 0)
        }
    }

    @Test func aJobThatKeepsFailingEndsDeadAndIsReplayedSuccessfully() async throws {
        try await PipelineStack.with { stack in
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "xero", "connection_id": "xero-dead"}"#)
            try await stack.eventually("initial syncs") {
                try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'xero-dead' AND last_success_at IS NOT NULL") == 2
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            _ = try await stack.control(.PUT, "/faults", #"{"rate_500": 1.0}"#)
            _ = try await stack.control(.POST, "/connections/xero-dead/changes", #"{"provider_config_key": "xero", "model": "Item", "add": 2}"#)
            try await stack.eventually("dead after the policy's attempts", timeout: .seconds(90)) {
                try await stack.int("SELECT count(*)::int FROM jobs WHERE status = 'dead' AND kind = 'sync.run'") == 1
            }
            let id = try await stack.int("SELECT id::int FROM jobs WHERE status = 'dead' AND kind = 'sync.run'")
            let attempts = try await stack.int("SELECT attempts FROM jobs WHERE id = \(id)")
            let lastError = try await stack.sql("SELECT last_error FROM jobs WHERE id = \(id)").first?.decode(String?.self) ?? nil
            #expect(attempts == 2, "\(lastError ?? "")")
            _ = try await stack.control(.DELETE, "/faults")
            let retried = try await stack.dependencies.database.withConnection { db in
                try await JobsTable.retry(id: Int64(id), on: db, logger: TestEnvironment.logger)
            }
            #expect(retried)
            try await stack.eventually("the replay succeeded") {
                try await stack.int("SELECT count(*)::int FROM jobs WHERE id = \(id) AND status = 'succeeded'") == 1
            }
        }
    }

    @Test func aWorkerThatDiesMidSyncIsResumedFromTheCheckpointWithNoDuplicateAndNoGap() async throws {
        try await PipelineStack.with(["WORKER_COUNT": "1"]) { stack in
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "hubspot", "connection_id": "crash"}"#)
            try await stack.eventually("initial syncs") {
                try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'crash' AND last_success_at IS NOT NULL") == 3
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            // The change set's webhook is lost (so no other job races the ghost's), and a "ghost" worker holds
            // the sync, commits one page and dies without a word.
            _ = try await stack.control(.PUT, "/faults", #"{"bad_signature_next": 1}"#)
            _ = try await stack.control(.POST, "/connections/crash/changes", #"{"provider_config_key": "hubspot", "model": "Product", "add": 20}"#)
            let ghostJob = try await stack.runningSyncJob(connection: "crash", model: "Product", leaseOwner: "ghost", attempts: 1)
            let runner = stack.syncRunner()
            let stopAfterFirstPage = ManagedCounter()
            let outcome = try await runner.run(JobContext(job: ghostJob, owner: "ghost", isStopping: { stopAfterFirstPage.next() > 0 }))
            #expect(outcome != .succeeded)   // it stopped after a page; the ghost never reports back
            // Its lease runs out only now, so the takeover cannot overlap the ghost's page however slow it was.
            _ = try await stack.sql("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = \(ghostJob.id)")
            let company = try await stack.company("crash")
            let afterGhost = try await stack.int("SELECT count(*)::int FROM products WHERE company_id = '\(company)'")
            // The lease runs out; the app's worker takes the job over and resumes from the checkpoint.
            try await stack.eventually("taken over and finished", timeout: .seconds(40)) {
                try await stack.int("SELECT count(*)::int FROM jobs WHERE id = \(ghostJob.id) AND status = 'succeeded'") == 1
            }
            let expected = try await stack.served("hubspot", "Product", connection: "crash")
            #expect(afterGhost < expected.kept.count)
            #expect(try await stack.int("SELECT count(*)::int FROM products WHERE company_id = '\(company)'") == expected.kept.count)
            // No gap, no duplicate: the runs of this job together fetched each new record exactly once.
            #expect(try await stack.int("SELECT sum(fetched)::int FROM pipeline_runs WHERE job_id = \(ghostJob.id)") == 20)
        }
    }
}

extension PipelineSyncTests {
    /// A worker whose job was taken over (its lease lapsed while it could not renew) commits nothing more: its next
    /// page's transaction finds the lease another's, rolls back and stops the run, the checkpoint untouched.
    @Test func aWorkerWhoseJobWasTakenOverCommitsNothing() async throws {
        try await PipelineStack.with(["WORKER_COUNT": "1"]) { stack in
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "hubspot", "connection_id": "fenced"}"#)
            try await stack.eventually("initial syncs") {
                try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'fenced' AND last_success_at IS NOT NULL") == 3
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            _ = try await stack.control(.PUT, "/faults", #"{"bad_signature_next": 1}"#)
            _ = try await stack.control(.POST, "/connections/fenced/changes", #"{"provider_config_key": "hubspot", "model": "Product", "add": 20}"#)
            let company = try await stack.company("fenced")
            let before = try await stack.int("SELECT count(*)::int FROM products WHERE company_id = '\(company)'")
            let cursorBefore = try await stack.int("SELECT checkpoint_version::int FROM sync_state WHERE connection_id = 'fenced' AND model = 'Product'")
            // The stale worker claimed the job; then another took it over (as the reaper and a claim would).
            let staleJob = try await stack.runningSyncJob(connection: "fenced", model: "Product", leaseOwner: "the-other-worker", attempts: 2)
            let runner = stack.syncRunner()
            do {
                _ = try await runner.run(JobContext(job: staleJob, owner: "stale-worker", isStopping: { false }))
                Issue.record("a worker without the lease must not finish the job")
            } catch JobError.leaseLost {
            }
            #expect(try await stack.int("SELECT count(*)::int FROM products WHERE company_id = '\(company)'") == before, "nothing written")
            #expect(try await stack.int("SELECT checkpoint_version::int FROM sync_state WHERE connection_id = 'fenced' AND model = 'Product'") == cursorBefore)
            #expect(try await stack.int("SELECT count(*)::int FROM jobs WHERE id = \(staleJob.id) AND lease_owner = 'the-other-worker'") == 1)
            _ = try await stack.sql("UPDATE jobs SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL WHERE id = \(staleJob.id)")
        }
    }
}
