import AsyncHTTPClient
import Foundation
import MarketplaceCore
import NIOHTTP1
import PostgresNIO
import Testing
import TestSupport

@testable import Server

/// Ops' two actions on a pipeline, end to end with the emulator as Nango: a pipeline enabled later for a
/// model already synced backfills by itself (its own cursor; the checkpoint stays), and a mapping fix
/// reaches every stored row and the quarantined records it now accepts without a call to Nango.
@Suite(.serialized, .timeLimit(.minutes(10))) struct PipelineActionsTests {
    static let disabledAccounts: @Sendable (String) -> String = {
        $0.replacingOccurrences(of: "  - name: salesforce-accounts\n", with: "  - name: salesforce-accounts\n    enabled: false\n")
    }

    @Test func aPipelineEnabledForAnAlreadySyncedModelBackfillsByItself() async throws {
        try await PipelineStack.with(pipelines: Self.disabledAccounts) { stack in
            let company = try await stack.connect("salesforce", "sf-back", models: 2)
            #expect(try await stack.int("SELECT count(*)::int FROM locations WHERE company_id = '\(company)'") == 0)
            let checkpoint = try await stack.sql("SELECT cursor FROM sync_state WHERE connection_id = 'sf-back' AND model = 'Account'")
            #expect(checkpoint.count == 1)
            let cursorBefore = try checkpoint.first?.decode(String?.self)

            // Ops enable the pipeline: no Account changes at Nango, yet every Account reaches its locations.
            try stack.rewritePipelines { $0 }
            #expect(try await stack.admin(.POST, "/api/admin/pipelines/reload").status == 200)
            try await stack.eventually("backfilled") {
                try await stack.int("SELECT count(*)::int FROM pipeline_backfills WHERE pipeline = 'salesforce-accounts' AND finished_at IS NOT NULL") == 1
            }
            let rows = try await stack.int("SELECT count(*)::int FROM locations WHERE company_id = '\(company)'")
            let quarantined = try await stack.int(
                "SELECT count(*)::int FROM quarantine WHERE company_id = '\(company)' AND pipeline = 'salesforce-accounts' AND status = 'open'")
            #expect(rows > 0)
            #expect(rows + quarantined == 30)
            #expect(try await stack.int("SELECT sum(fetched)::int FROM pipeline_runs WHERE pipeline = 'salesforce-accounts' AND outcome = 'succeeded'") == 30)
            // The incremental checkpoint did not move backwards (nor at all: nothing changed at Nango).
            let after = try await stack.sql("SELECT cursor FROM sync_state WHERE connection_id = 'sf-back' AND model = 'Account'")
            #expect(try after.first?.decode(String?.self) == cursorBefore)

            // Asked again by hand, twice at once: it runs (from the start) and lands nothing new.
            async let first = stack.admin(.POST, "/api/admin/pipelines/salesforce-accounts/backfill?company_id=\(company)")
            async let second = stack.admin(.POST, "/api/admin/pipelines/salesforce-accounts/backfill")
            #expect(try await first.status == 202)
            #expect(try await second.status == 202)
            try await stack.eventually("the second backfill done") {
                let settled = try await stack.jobsSettled()
                let finished = try await stack.int(
                    "SELECT count(*)::int FROM pipeline_backfills WHERE pipeline = 'salesforce-accounts' AND finished_at IS NOT NULL")
                return settled && finished == 1
            }
            #expect(try await stack.int("SELECT count(*)::int FROM locations WHERE company_id = '\(company)'") == rows)
            #expect(try await stack.admin(.POST, "/api/admin/pipelines/nope/backfill").status == 404)
        }
    }

    /// The title mapped from a path that does not exist, and required: every contact is quarantined.
    static let brokenContacts: @Sendable (String) -> String = {
        $0.replacingOccurrences(of: "          title: jobTitle\n", with: "          title: job_title\n")
            .replacingOccurrences(of: "      - validate: { required: [external_id, display_name], email: email }\n\n  - name: hubspot-companies",
                                  with: "      - validate: { required: [external_id, display_name, title], email: email }\n\n  - name: hubspot-companies")
    }

    /// A quarantined record that its source then deletes leaves nothing to fix: its entry closes with the sync that
    /// brings the deletion, and the others stay open.
    @Test func aQuarantinedRecordDeletedAtTheSourceClosesItsEntry() async throws {
        try await PipelineStack.with(pipelines: Self.brokenContacts) { stack in
            let company = try await stack.connect("hubspot", "hs-gone", models: 3)
            func entries(_ status: String) async throws -> Int {
                try await stack.int("SELECT count(*)::int FROM quarantine WHERE company_id = '\(company)' AND pipeline = 'hubspot-contacts' AND status = '\(status)'")
            }
            #expect(try await entries("open") == 30)
            let deleted = try await stack.int("SELECT records_deleted::int FROM sync_state WHERE connection_id = 'hs-gone' AND model = 'Contact'")

            func runs() async throws -> Int {
                try await stack.int("SELECT count(*)::int FROM pipeline_runs WHERE pipeline = 'hubspot-contacts' AND outcome = 'succeeded'")
            }
            let runsBefore = try await runs()
            // The emulator sends its sync webhook before it answers, and the webhook's job is queued before that is answered.
            _ = try await stack.control(.POST, "/connections/hs-gone/changes", #"{"provider_config_key": "hubspot", "model": "Contact", "delete": 3}"#)
            try await stack.eventually("the deletions synced") {
                let settled = try await stack.jobsSettled()
                let done = try await runs()
                return settled && done > runsBefore
            }
            #expect(try await entries("open") == 27)
            #expect(try await entries("resolved") == 3)
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'") == 0, "nothing was stored to delete")
            #expect(try await stack.int("SELECT records_deleted::int FROM sync_state WHERE connection_id = 'hs-gone' AND model = 'Contact'") == deleted)
        }
    }

    @Test func aMappingFixReachesEveryStoredRowAndTheQuarantineWithoutCallingNango() async throws {
        try await PipelineStack.with(pipelines: Self.brokenContacts) { stack in
            let company = try await stack.connect("hubspot", "hs-fix", models: 3)
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'") == 0)
            #expect(try await stack.int("SELECT count(*)::int FROM quarantine WHERE company_id = '\(company)' AND pipeline = 'hubspot-contacts' AND status = 'open'") == 30)
            let requests = try await stack.recordsRequests()
            #expect(requests > 0)

            // The fix, then the quarantine re-run: the records it now accepts land, from what we hold.
            try stack.rewritePipelines { $0 }
            #expect(try await stack.admin(.POST, "/api/admin/pipelines/reload").status == 200)
            #expect(try await stack.admin(.POST, "/api/admin/quarantine/rerun?pipeline=hubspot-contacts").status == 202)
            try await stack.eventually("re-derived from the quarantine") {
                let settled = try await stack.jobsSettled()
                let landed = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'")
                return settled && landed > 0
            }
            let rows = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)'")
            let open = try await stack.int("SELECT count(*)::int FROM quarantine WHERE company_id = '\(company)' AND pipeline = 'hubspot-contacts' AND status = 'open'")
            #expect(rows + open == 30)
            #expect(try await stack.int("SELECT count(*)::int FROM quarantine WHERE company_id = '\(company)' AND status = 'resolved'") == rows)
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND title IS DISTINCT FROM raw->>'jobTitle'") == 0)
            #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND source_model = 'Contact'") == rows)

            // A second fix of a mapped value reaches every stored row.
            try stack.rewritePipelines { $0.replacingOccurrences(of: "          title: jobTitle\n", with: "          title: { const: Partner }\n") }
            #expect(try await stack.admin(.POST, "/api/admin/pipelines/reload").status == 200)
            #expect(try await stack.admin(.POST, "/api/admin/pipelines/hubspot-contacts/rederive").status == 202)
            try await stack.eventually("every row re-derived") {
                let settled = try await stack.jobsSettled()
                let partners = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND title = 'Partner'")
                return settled && partners == rows
            }
            #expect(try await stack.int("SELECT count(*)::int FROM pipeline_runs WHERE pipeline = 'hubspot-contacts' AND outcome <> 'succeeded'") == 0)
            // Not one call to Nango's records since the first sync.
            #expect(try await stack.recordsRequests() == requests)
        }
    }
}
