import AsyncHTTPClient
import Foundation
import MarketplaceCore
import NIOCore
import NIOHTTP1
import PostgresNIO
import Storage
import Testing
import TestSupport
import Tokens

@testable import Server

/// A client written the way docs/changes.md says (take `after=now`, read the lists, follow) against the whole product:
/// while it starts, a new connection's first syncs run side by side; then change sets on two models sync at once, a
/// mapping fix is re-derived, and a full re-read finds records Nango dropped outright. It ends up holding exactly the
/// rows Postgres holds.
@Suite(.serialized, .timeLimit(.minutes(10))) struct ChangeFeedClientTests {
    /// What the client holds: every row by "resource/id", as the API renders it.
    struct FeedClient {
        let stack: PipelineStack
        let company: String
        let token: String
        var cursor = ""
        var rows: [String: JSONValue] = [:]
        var applied: [String: Int] = [:]

        /// The company's own answer and its rows as the lists render them (deleted ones included), every page.
        static func lists(_ stack: PipelineStack, company: String, token: String) async throws -> [String: JSONValue] {
            var rows: [String: JSONValue] = [:]
            let companies = try JSONValue.parse(Array(try await stack.get("/api/companies", token: token).body.utf8))
            for row in elements(companies["data"]) { rows["companies/" + (row["id"]?.string ?? "")] = row }
            for resource in ["contacts", "locations", "products"] {
                var next: String? = ""
                while let cursor = next {
                    let page = try await stack.get(
                        "/api/companies/\(company)/\(resource)?limit=500&include_deleted=true" + (cursor.isEmpty ? "" : "&cursor=\(cursor)"), token: token)
                    #expect(page.status == 200)
                    let body = try JSONValue.parse(Array(page.body.utf8))
                    for row in elements(body["data"]) { rows["\(resource)/" + (row["id"]?.string ?? "")] = row }
                    next = body["next_cursor"]?.string
                }
            }
            return rows
        }

        static func elements(_ value: JSONValue?) -> [JSONValue] {
            guard case .array(let elements) = value else { return [] }
            return elements
        }

        mutating func start() async throws {
            let now = try JSONValue.parse(Array(try await stack.get("/api/companies/\(company)/changes?after=now", token: token).body.utf8))
            cursor = try #require(now["next_cursor"]?.string)
            rows = try await Self.lists(stack, company: company, token: token)
        }

        /// Reads and applies changes until the feed has nothing more right now.
        mutating func follow() async throws {
            while true {
                let page = try await stack.get("/api/companies/\(company)/changes?after=\(cursor)&limit=1000", token: token)
                #expect(page.status == 200, "\(page.body)")
                let body = try JSONValue.parse(Array(page.body.utf8))
                for change in Self.elements(body["data"]) {
                    guard let resource = change["resource"]?.string, let id = change["resource_id"]?.string, let data = change["data"],
                          let type = change["type"]?.string else { continue }
                    rows["\(resource)/\(id)"] = data
                    applied[type, default: 0] += 1
                }
                cursor = try #require(body["next_cursor"]?.string)
                if body["has_more"] != .bool(true) { return }
            }
        }
    }

    /// The company's sync bookkeeping is no change (docs/changes.md): the client's copy of those fields may be older.
    static func withoutBookkeeping(_ rows: [String: JSONValue]) -> [String: JSONValue] {
        rows.mapValues { row in
            guard case .object(var fields) = row, fields["connection_id"] != nil else { return row }
            for key in ["last_synced_at", "source_updated_at"] { fields[key] = nil }
            return .object(fields)
        }
    }

    @Test func aClientFollowingTheProtocolHoldsExactlyTheDatabasesRows() async throws {
        try await PipelineStack.with(records: 60) { stack in
            _ = try await stack.control(.POST, "/connections", #"{"provider_config_key": "hubspot", "connection_id": "follow"}"#)
            try await stack.eventually("the company stored") {
                try await stack.int("SELECT count(*)::int FROM companies WHERE connection_id = 'follow'") == 1
            }
            let company = try await stack.company("follow")
            let token = try await stack.dependencies.tokens.companyToken(try #require(UUID(uuidString: company)), subject: "feed-client")
            // The first syncs of three models are running while the client takes its cursor and reads the lists.
            var client = FeedClient(stack: stack, company: company, token: token)
            try await client.start()
            try await client.follow()
            try await stack.eventually("the first syncs") {
                try await stack.int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'follow' AND last_success_at IS NOT NULL") == 3
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }

            // Two models' change sets, synced side by side.
            _ = try await stack.control(.POST, "/connections/follow/changes", #"{"provider_config_key": "hubspot", "model": "Contact", "add": 10, "update": 10, "delete": 5}"#)
            _ = try await stack.control(.POST, "/connections/follow/changes", #"{"provider_config_key": "hubspot", "model": "Product", "add": 5, "update": 5, "delete": 2}"#)
            try await client.follow()
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }

            // A mapping fix, re-derived: every live contact's display name changes.
            try stack.rewritePipelines {
                $0.replacingOccurrences(of: #"display_name: { join: [firstName, lastName], separator: " " }"#,
                                        with: #"display_name: { join: [lastName, firstName], separator: ", " }"#)
            }
            #expect(try await stack.admin(.POST, "/api/admin/pipelines/reload").status == 200)
            let rederive = try await stack.admin(.POST, "/api/admin/pipelines/hubspot-contacts/rederive?company_id=\(company)")
            #expect(rederive.status == 202, "\(rederive.body)")
            try await client.follow()
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            let liveContacts = try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL")

            // Nango drops three records outright; a full re-read finds them gone.
            let served = try await stack.served("hubspot", "Contact", connection: "follow")
            let gone = Array(served.kept.prefix(3))
            _ = try await stack.control(.POST, "/connections/follow/hard-delete", #"""
                {"provider_config_key": "hubspot", "model": "Contact", "ids": ["\#(gone.joined(separator: "\", \""))"]}
                """#)
            let resync = try await stack.admin(.POST, "/api/admin/pipelines/hubspot-contacts/full-resync?company_id=\(company)")
            #expect(resync.status == 202, "\(resync.body)")
            try await client.follow()
            try await stack.eventually("the full re-read finished") {
                try await stack.int("SELECT count(*)::int FROM full_resyncs WHERE connection_id = 'follow' AND finished_at IS NOT NULL") == 1
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }

            // Everything written is readable (below `change_log_bound()`); one last follow.
            try await stack.eventually("every change readable") {
                try await stack.int("SELECT count(*)::int FROM changes WHERE xid >= (SELECT change_log_bound())") == 0
            }
            try await client.follow()
            let database = try await FeedClient.lists(stack, company: company, token: token)
            #expect(database.count > 100)
            let held = Self.withoutBookkeeping(client.rows), truth = Self.withoutBookkeeping(database)
            #expect(Set(held.keys) == Set(truth.keys), "rows missing: \(Set(truth.keys).subtracting(held.keys).sorted()); extra: \(Set(held.keys).subtracting(truth.keys).sorted())")
            let differing = truth.keys.filter { held[$0] != truth[$0] }.sorted()
            #expect(differing.isEmpty, "\(differing.count) rows differ, first: \(differing.first.map { "\(held[$0]?.jsonText ?? "nil") vs \(truth[$0]?.jsonText ?? "nil")" } ?? "")")
            // The feed carried each kind of write (the state above is the real check; how many updates the re-derive made
            // depends on how the syncs and it interleaved).
            #expect((client.applied["contact.updated"] ?? 0) > 0 && liveContacts > 0, "\(client.applied)")
            #expect((client.applied["contact.deleted"] ?? 0) >= 5 + 3, "\(client.applied)")
            #expect((client.applied["product.created"] ?? 0) >= 5, "\(client.applied)")
            for id in gone {
                #expect(try await stack.int("SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND external_id = '\(id)' AND deleted_at IS NOT NULL") == 1)
            }
        }
    }
}

extension ChangeFeedClientTests {
    static func changeCount(_ stack: PipelineStack, _ company: String, _ type: String? = nil) async throws -> Int {
        try await stack.int("""
            SELECT count(*)::int FROM changes WHERE company_id = '\(company)' \(type.map { "AND resource || '.' || kind = '\($0)'" } ?? "")
            """)
    }

    /// Only real changes are written: a backfill, a re-derive and a full re-read that change nothing write none, nor
    /// do pruned records; a mapping fix re-derived writes one `updated` per row whose rendering really changed.
    @Test func onlyWritesThatChangeARowWriteAChange() async throws {
        try await PipelineStack.with(records: 40) { stack in
            let company = try await stack.connect("hubspot", "real", models: 3)
            let settled = try await Self.changeCount(stack, company)
            #expect(settled > 40)

            for action in ["backfill", "rederive", "full-resync"] {
                let answer = try await stack.admin(.POST, "/api/admin/pipelines/hubspot-contacts/\(action)?company_id=\(company)")
                #expect(answer.status == 202, "\(action): \(answer.body)")
                try await stack.eventually("\(action) done") { try await stack.jobsSettled() }
            }
            // Nango prunes every payload; a full re-read meets only pruned records.
            _ = try await stack.control(.POST, "/connections/real/prune", #"{"provider_config_key": "hubspot", "model": "Contact"}"#)
            #expect(try await stack.admin(.POST, "/api/admin/pipelines/hubspot-contacts/full-resync?company_id=\(company)").status == 202)
            try await stack.eventually("the pruned re-read done") {
                try await stack.int("SELECT count(*)::int FROM full_resyncs WHERE connection_id = 'real' AND finished_at IS NOT NULL") == 2
            }
            try await stack.eventually("jobs settled") { try await stack.jobsSettled() }
            #expect(try await Self.changeCount(stack, company) == settled, "nothing a client sees changed")

            // The fix swaps first and last names: every live contact with two different names gets one update.
            let renamed = try await stack.int("""
                SELECT count(*)::int FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL
                  AND first_name IS NOT NULL AND last_name IS NOT NULL AND first_name <> last_name
                """)
            #expect(renamed > 20)
            try stack.rewritePipelines {
                $0.replacingOccurrences(of: #"display_name: { join: [firstName, lastName], separator: " " }"#,
                                        with: #"display_name: { join: [lastName, firstName], separator: " " }"#)
            }
            #expect(try await stack.admin(.POST, "/api/admin/pipelines/reload").status == 200)
            #expect(try await stack.admin(.POST, "/api/admin/pipelines/hubspot-contacts/rederive?company_id=\(company)").status == 202)
            try await stack.eventually("the re-derive done") { try await stack.jobsSettled() }
            #expect(try await Self.changeCount(stack, company) == settled + renamed)
            #expect(try await Self.changeCount(stack, company, "contacts.updated") == renamed)
            #expect(try await stack.int("""
                SELECT count(DISTINCT resource_id)::int FROM changes WHERE company_id = '\(company)' AND kind = 'updated' AND resource = 'contacts'
                """) == renamed, "one change a row")
        }
    }
}
