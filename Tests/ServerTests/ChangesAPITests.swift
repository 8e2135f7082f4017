import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MarketplaceCore
import NIOCore
import NIOHTTP1
import PostgresNIO
import Query
import ServiceLifecycle
import Storage
import Testing
import TestSupport

@testable import Server

/// The change feeds through HTTP against real Postgres: what they refuse, following from `now`, long polls woken by
/// commits, the waiters' bound, expired cursors and shutdown.
@Suite(.timeLimit(.minutes(10))) struct ChangesAPITests {
    typealias Seeded = CompaniesAPITests.Seeded
    static let logger = TestEnvironment.logger

    /// The app running as `serve` runs it (its services too: the listener wakes held polls), two seeded companies.
    static func withApp(
        _ overrides: [String: String] = [:],
        _ body: @escaping @Sendable (_ url: String, _ seeded: Seeded, _ database: Database, _ dependencies: Dependencies,
                                      _ stop: @escaping @Sendable () async -> Void) async throws -> Void
    ) async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: logger)
                let seeded = try await CompaniesAPITests.seed(database, contacts: 3)
                try await settled(database)
                let dependencies = try await TestApp.dependencies(overrides, database: configuration)
                let port = FreePort.next()
                let app = buildApplication(dependencies, host: "127.0.0.1", port: port, migrateOnStart: false, backgroundJobs: false)
                let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await services.run() }
                    defer { group.cancelAll() }
                    let url = "http://127.0.0.1:\(port)"
                    try await eventually("the app answers", timeout: .seconds(30), every: .milliseconds(20)) {
                        (try? await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/health/live"), timeout: .seconds(1)))?.status == .ok
                    }
                    try await body(url, seeded, database, dependencies) { await services.triggerGracefulShutdown() }
                    await services.triggerGracefulShutdown()
                    try await group.next()
                }
            }
        }
    }

    /// Waits until every change written so far is readable (below `change_log_bound()`, migration 0029),
    /// so that `after=now` stands past the seeded rows' changes.
    static func settled(_ database: Database) async throws {
        try await eventually("the seeded changes are readable") {
            try await database.query("""
                SELECT count(*)::int FROM changes WHERE xid >= (SELECT change_log_bound())
                """, logger: logger).first?.decode(Int.self) == 0
        }
    }

    static func get(_ url: String, _ token: String) async throws -> (status: UInt, body: [String: JSONValue], headers: HTTPHeaders) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let text = try await response.body.collect(upTo: 16 << 20)
        guard case .object(let object) = try JSONValue.parse(Array(text.readableBytesView)) else { return (response.status.code, [:], response.headers) }
        return (response.status.code, object, response.headers)
    }

    static func changes(_ body: [String: JSONValue]) -> [JSONValue] { elements(body["data"]) }

    static func elements(_ value: JSONValue?) -> [JSONValue] {
        guard case .array(let elements) = value else { return [] }
        return elements
    }

    static func types(_ body: [String: JSONValue]) -> [String] { changes(body).compactMap { $0["type"]?.string } }

    @Test func theFeedsRefuseWhatTheyCannotAnswer() async throws {
        try await Self.withApp { url, seeded, _, _, _ in
            let feedA = "\(url)/api/companies/\(seeded.a)/changes"
            let feedB = "\(url)/api/companies/\(seeded.b)/changes"
            let now = try await Self.get(feedA + "?after=now", seeded.tokenA)
            #expect(now.status == 200)
            #expect(Self.changes(now.body).isEmpty)
            #expect(now.body["has_more"] == .bool(false))
            let cursor = try #require(now.body["next_cursor"]?.string)
            for (query, parameter) in [("", "after"), ("?after=", "after"), ("?after=garbage", "after"), ("?after=\(cursor)x", "after"),
                                       ("?after=now&limit=0", "limit"), ("?after=now&limit=1001", "limit"), ("?after=now&wait=31", "wait"),
                                       ("?after=now&resources=contacts,invoices", "resources"), ("?after=now&since=1", "since")] {
                let refused = try await Self.get(feedA + query, seeded.tokenA)
                #expect(refused.status == 400, "\(query)")
                #expect(refused.body["error"]?["code"]?.string == "invalid_parameter")
                #expect(refused.body["error"]?["message"]?.string?.contains("'\(parameter)'") == true, "\(query): \(refused.body)")
            }
            // A cursor of company A's feed on company B's, and on the all-company feed.
            #expect(try await Self.get(feedB + "?after=\(cursor)", seeded.admin).status == 400)
            #expect(try await Self.get("\(url)/api/changes?after=\(cursor)", seeded.admin).status == 400)
            // Another company's feed is not there for A's token; the all-company feed is for admins.
            #expect(try await Self.get(feedB + "?after=now", seeded.tokenA).status == 404)
            #expect(try await Self.get("\(url)/api/companies/\(UUID())/changes?after=now", seeded.admin).status == 404)
            #expect(try await Self.get("\(url)/api/changes?after=now", seeded.tokenA).status == 403)
            #expect(try await Self.get("\(url)/api/changes?after=now", seeded.admin).status == 200)
        }
    }

    /// A client that takes `after=now` and follows gets every later change once, in order, each rendered as the lists
    /// render the row; the same position always gives the same cursor.
    @Test func aFollowerFromNowGetsEachLaterChangeOnceInOrder() async throws {
        try await Self.withApp { url, seeded, database, _, _ in
            let feed = "\(url)/api/companies/\(seeded.a)/changes"
            // The seeded rows may still show (a change may come twice, never not at all): start past them.
            var cursor = try #require(try await Self.get(feed + "?after=now", seeded.tokenA).body["next_cursor"]?.string)
            try await database.withConnection { db in
                try await db.query("UPDATE contacts SET display_name = 'Renamed', content_hash = 'h2' WHERE external_id = 'c-1'", logger: Self.logger)
                try await db.query("UPDATE contacts SET display_name = 'Renamed', content_hash = 'h2' WHERE external_id = 'c-1'", logger: Self.logger)
                try await db.query("UPDATE contacts SET deleted_at = now() WHERE external_id = 'c-2'", logger: Self.logger)
                try await db.query("UPDATE companies SET status = 'refresh_failed' WHERE id = \(seeded.a)", logger: Self.logger)
                try await db.query("UPDATE companies SET last_synced_at = now() WHERE id = \(seeded.a)", logger: Self.logger)
                try await db.query("""
                    INSERT INTO contacts (company_id, external_id, display_name, content_hash, raw) VALUES (\(seeded.a), 'c-new', 'New', 'h', '{}')
                    """, logger: Self.logger)
            }
            // Every change readable before the first read: pages of one then end at their change while more follow.
            try await Self.settled(database)
            var seen: [JSONValue] = []
            var positionsCompared = 0
            let deadline = ContinuousClock.now + .seconds(60)
            while seen.count < 4, ContinuousClock.now < deadline {
                let page = try await Self.get(feed + "?after=\(cursor)&limit=1", seeded.tokenA)
                #expect(page.status == 200)
                // With more to read, the page ends at its change: the same position, so the same cursor. (A page that
                // reached the end stands at the feed's end, which moves on as the cluster's transactions finish.)
                if page.body["has_more"] == .bool(true) {
                    let again = try await Self.get(feed + "?after=\(cursor)&limit=1", seeded.tokenA)
                    #expect(again.body["next_cursor"] == page.body["next_cursor"], "one position, one cursor")
                    positionsCompared += 1
                }
                seen += Self.changes(page.body)
                cursor = try #require(page.body["next_cursor"]?.string)
                if Self.changes(page.body).isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(seen.compactMap { $0["type"]?.string } == ["contact.updated", "contact.deleted", "company.updated", "contact.created"])
            #expect(positionsCompared == 3, "three pages ended at their change")
            #expect(Set(seen.compactMap { $0["id"]?.string }).count == 4, "no change twice")
            let renamed = try #require(seen.first)
            #expect(renamed["resource"]?.string == "contacts")
            #expect(renamed["external_id"]?.string == "c-1")
            #expect(renamed["company_id"]?.string == seeded.a.lowercasedString)
            #expect(renamed["data"]?["display_name"]?.string == "Renamed")
            #expect(renamed["data"]?["raw"] == nil && renamed["data"]?["content_hash"] == nil)
            // The row as the list renders it.
            let list = try await Self.get("\(url)/api/companies/\(seeded.a)/contacts?include_deleted=true&limit=100", seeded.tokenA)
            let listed = try #require(Self.elements(list.body["data"]).first { $0["external_id"]?.string == "c-2" })
            #expect(seen[1]["data"] == listed)
            #expect(seen[1]["resource_id"] == listed["id"])
            #expect(seen[2]["data"]?["status"]?.string == "refresh_failed")
            // Nothing more: the company's last sync time is no change.
            #expect(Self.changes(try await Self.get(feed + "?after=\(cursor)", seeded.tokenA).body).isEmpty)
            // A filter on resources; and the all-company feed names each change's company.
            let companies = try await Self.get(feed + "?after=now&resources=companies", seeded.tokenA)
            #expect(companies.status == 200)
            let all = try await Self.get("\(url)/api/changes?after=now&limit=1000", seeded.admin)
            #expect(all.status == 200)
        }
    }

    /// A held request answers with a change that commits while it waits, on the shared Postgres: other suites' long
    /// transactions, in databases of their own, do not hold this database's feed back (migration 0029).
    @Test func aLongPollAnswersWhenAChangeCommits() async throws {
        try await Self.withApp { url, seeded, database, dependencies, _ in
            let feed = "\(url)/api/companies/\(seeded.a)/changes"
            async let answer = Self.get(feed + "?after=now&wait=30", seeded.tokenA)
            try await eventually("the poll read and waits") { dependencies.changeSignals.waiting == 1 }
            try await database.query("UPDATE contacts SET display_name = 'Woken', content_hash = 'w' WHERE external_id = 'c-3'", logger: Self.logger)
            let started = ContinuousClock.now
            let woken = try await answer
            #expect(woken.status == 200)
            #expect(Self.types(woken.body) == ["contact.updated"], "the change committed while the request was held")
            #expect(ContinuousClock.now - started < .seconds(25), "answered by the commit, not by the wait running out")
            #expect(dependencies.changeSignals.held == 0)
        }
    }

    /// A change committed beside an older transaction of this database is not readable at its commit, and the older
    /// transaction's commit notifies nobody (it wrote no change). The listener's tick wakes a poll held meanwhile once
    /// the change is readable, long before the wait runs out. Stepped: a place held for another company takes the
    /// listener's first tick (which wakes every held request, having no bound to start from), so the next place, for
    /// the poll's company, is woken by the change's own notification alone; the poll starts after it, and has read and
    /// waits when the older transaction commits.
    @Test func aHeldPollIsWokenWhenAnOlderTransactionLetsItsChangeBeRead() async throws {
        try await Self.withApp { url, seeded, database, dependencies, _ in
            let feed = "\(url)/api/companies/\(seeded.a)/changes"
            let signals = dependencies.changeSignals
            let cursor = try #require(try await Self.get(feed + "?after=now", seeded.tokenA).body["next_cursor"]?.string)
            let firstTick = try #require(signals.hold(companyId: UUID()))
            defer { firstTick.release() }
            await firstTick.wait(timeout: .seconds(60))
            try await database.withConnection { older in
                try await older.query("BEGIN", logger: Self.logger)
                try await older.query("SELECT pg_current_xact_id()", logger: Self.logger)
                let notified = try #require(signals.hold(companyId: seeded.a))
                try await database.query("UPDATE contacts SET display_name = 'Beside', content_hash = 'b' WHERE external_id = 'c-3'", logger: Self.logger)
                await notified.wait(timeout: .seconds(60))
                notified.release()
                async let answer = Self.get(feed + "?after=\(cursor)&wait=30", seeded.tokenA)
                try await eventually("the poll read and waits") { signals.waiting == 1 }
                try await older.query("COMMIT", logger: Self.logger)
                let started = ContinuousClock.now
                let woken = try await answer
                #expect(woken.status == 200)
                #expect(Self.types(woken.body) == ["contact.updated"])
                #expect(ContinuousClock.now - started < .seconds(20), "woken by the listener's tick, not by the wait running out")
            }
        }
    }

    /// Past `CHANGES_MAX_WAITERS` held polls, another is refused with 503 and `Retry-After`; a request that does not
    /// wait is still answered; shutting down answers the held one at once.
    @Test func waitersAreBoundedAndShutdownAnswersThem() async throws {
        try await Self.withApp(["CHANGES_MAX_WAITERS": "1"]) { url, seeded, _, dependencies, stop in
            let feed = "\(url)/api/companies/\(seeded.a)/changes"
            async let held = Self.get(feed + "?after=now&wait=30", seeded.tokenA)
            try await eventually("the poll read and waits") { dependencies.changeSignals.waiting == 1 }
            let refused = try await Self.get(feed + "?after=now&wait=5", seeded.tokenA)
            #expect(refused.status == 503)
            #expect(refused.body["error"]?["code"]?.string == "too_many_waiters")
            #expect(refused.headers.first(name: "Retry-After") != nil)
            let metrics = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/metrics"), timeout: .seconds(30))
            let scraped = String(buffer: try await metrics.body.collect(upTo: 4 << 20))
            #expect(scraped.contains("\nchanges_long_polls_held 1"), "the held poll, counted for ops")
            #expect(scraped.contains("\nchanges_long_polls_max 1"))
            #expect(try await Self.get(feed + "?after=now", seeded.tokenA).status == 200)
            let started = ContinuousClock.now
            await stop()
            let answered = try await held
            #expect(answered.status == 200)
            #expect(Self.changes(answered.body).isEmpty)
            #expect(answered.body["next_cursor"]?.string != nil)
            #expect(ContinuousClock.now - started < .seconds(25), "answered by the shutdown, not by the wait running out")
        }
    }

    /// A cursor behind what retention deleted is 410 `cursor_expired`, saying how to start again.
    @Test func aCursorBehindRetentionIsGone() async throws {
        try await Self.withApp { url, seeded, database, _, _ in
            let feed = "\(url)/api/companies/\(seeded.a)/changes"
            let old = try #require(try await Self.get(feed + "?after=now", seeded.tokenA).body["next_cursor"]?.string)
            try await database.withConnection { db in
                try await db.query("UPDATE contacts SET display_name = 'Later', content_hash = 'l' WHERE external_id = 'c-1'", logger: Self.logger)
                try await db.query("UPDATE changes SET occurred_at = now() - interval '2 hours'", logger: Self.logger)
            }
            #expect(try await ChangesTable.deleteExpired(olderThan: .seconds(3600), database: database, logger: Self.logger) > 0)
            let gone = try await Self.get(feed + "?after=\(old)", seeded.tokenA)
            #expect(gone.status == 410)
            #expect(gone.body["error"]?["code"]?.string == "cursor_expired")
            #expect(gone.body["error"]?["message"]?.string?.contains("after=now") == true)
            #expect(try await Self.get(feed + "?after=now", seeded.tokenA).status == 200)
        }
    }
}
