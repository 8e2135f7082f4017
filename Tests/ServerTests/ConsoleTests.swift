import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import HummingbirdTesting
import MarketplaceCore
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Server

/// The console's guards over HTTP (the browser test drives its pages), what its change-log and outbound views show and
/// what the outbound actions do, and its pure parts.
@Suite(.timeLimit(.minutes(10))) struct ConsoleTests {
    static let admin = "test-admin-token-0123456789"
    static let viewer = "test-console-viewer-token-0123"

    /// Signs in and returns the session cookie and the page's CSRF token.
    static func signIn(_ client: some TestClientProtocol, token: String) async throws -> (cookie: String, csrf: String) {
        let answer = try await client.execute(
            uri: "/console/sign-in", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: "token=\(token)&next=%2Fconsole%2Fjobs"))
        #expect(answer.status == .seeOther)
        #expect(answer.headers[.location] == "/console/jobs")
        let setCookie = try #require(answer.headers[.setCookie])
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/console"))
        #expect(!setCookie.contains("Secure"), "not on plain http")
        let cookie = String(setCookie.split(separator: ";")[0])
        let page = try await client.execute(uri: "/console/jobs", method: .get, headers: [.cookie: cookie])
        #expect(page.status == .ok)
        let html = String(buffer: page.body)
        let marker = #"name="csrf" value=""#
        let start = try #require(html.range(of: marker)).upperBound
        return (cookie, String(html[start...].prefix(64)))
    }

    @Test func actionsNeedTheSessionTheCSRFTokenOurOriginAndTheAdminRole() async throws {
        try await TestApp.test(.router, ["CONSOLE_VIEWER_TOKEN": Self.viewer]) { client in
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            // Signed out: pages redirect to sign-in, actions are refused.
            let page = try await client.execute(uri: "/console/events?type=sync", method: .get)
            #expect(page.status == .seeOther)
            #expect(page.headers[.location] == "/console/sign-in?next=%2Fconsole%2Fevents%3Ftype%3Dsync")
            #expect(try await client.execute(uri: "/console/tokens/refresh-all", method: .post, headers: form).status == .unauthorized)
            // A wrong token opens nothing.
            let refused = try await client.execute(
                uri: "/console/sign-in", method: .post, headers: form, body: ByteBuffer(string: "token=wrong-token-0123456789"))
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.setCookie] == nil)

            let (cookie, csrf) = try await Self.signIn(client, token: Self.admin)
            var headers = form
            headers[.cookie] = cookie
            // No token, a wrong token, another site's origin: refused.
            let missing = try await client.execute(uri: "/console/tokens/refresh-all", method: .post, headers: headers, body: ByteBuffer(string: ""))
            #expect(missing.status == .forbidden)
            #expect(String(buffer: missing.body).contains("CSRF"))
            let wrong = try await client.execute(
                uri: "/console/tokens/refresh-all", method: .post, headers: headers, body: ByteBuffer(string: "csrf=" + String(repeating: "0", count: 64)))
            #expect(wrong.status == .forbidden)
            var foreign = headers
            foreign[.origin] = "https://evil.example"
            let crossSite = try await client.execute(
                uri: "/console/tokens/refresh-all", method: .post, headers: foreign, body: ByteBuffer(string: "csrf=\(csrf)"))
            #expect(crossSite.status == .forbidden)
            // With it: done, and back to the page with a notice.
            let done = try await client.execute(uri: "/console/tokens/refresh-all", method: .post, headers: headers, body: ByteBuffer(string: "csrf=\(csrf)"))
            #expect(done.status == .seeOther)
            #expect(done.headers[.location] == "/console/tokens?notice=refresh_queued&n=0")
            // Behind a proxy that rewrites Host, the origin the browser saw is the forwarded one.
            var proxied = foreign
            proxied[.origin] = "https://console.example"
            proxied[.xForwardedHost] = "console.example"
            #expect(try await client.execute(
                uri: "/console/pipelines/reload", method: .post, headers: proxied, body: ByteBuffer(string: "csrf=\(csrf)")).status == .seeOther)
            // The header works too (the page's scripts).
            var scripted = headers
            scripted[.csrfToken] = csrf
            #expect(try await client.execute(uri: "/console/pipelines/reload", method: .post, headers: scripted).status == .seeOther)

            // The viewer: the same pages, no buttons, every change refused even with its own CSRF token; a dry run is not a change.
            let (viewerCookie, viewerCSRF) = try await Self.signIn(client, token: Self.viewer)
            var viewerHeaders = form
            viewerHeaders[.cookie] = viewerCookie
            let tokensPage = String(buffer: try await client.execute(uri: "/console/tokens", method: .get, headers: viewerHeaders).body)
            #expect(tokensPage.contains("Tokens") && !tokensPage.contains("refresh-all"))
            let viewerAction = try await client.execute(
                uri: "/console/tokens/refresh-all", method: .post, headers: viewerHeaders, body: ByteBuffer(string: "csrf=\(viewerCSRF)"))
            #expect(viewerAction.status == .forbidden)
            #expect(String(buffer: viewerAction.body).contains("viewer role"))
            let dryRun = try await client.execute(
                uri: "/console/pipelines/dry-run", method: .post, headers: viewerHeaders,
                body: ByteBuffer(string: "csrf=\(viewerCSRF)&pipeline=hubspot-contacts&records=%5B%7B%22id%22%3A%221%22%2C%22firstName%22%3A%22Ada%22%7D%5D"))
            #expect(dryRun.status == .ok)
            #expect(String(buffer: dryRun.body).contains(#"<span id="dry-run-written">1</span>"#))

            // The viewer signs out like anyone.
            let viewerOut = try await client.execute(
                uri: "/console/sign-out", method: .post, headers: viewerHeaders, body: ByteBuffer(string: "csrf=\(viewerCSRF)"))
            #expect(viewerOut.status == .seeOther)
            #expect(try await client.execute(uri: "/console/jobs", method: .get, headers: [.cookie: viewerCookie]).status == .seeOther)

            // Sign-out ends the session on the server: the old cookie opens nothing.
            let signOut = try await client.execute(uri: "/console/sign-out", method: .post, headers: headers, body: ByteBuffer(string: "csrf=\(csrf)"))
            #expect(signOut.status == .seeOther)
            #expect(signOut.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await client.execute(uri: "/console/jobs", method: .get, headers: [.cookie: cookie]).status == .seeOther)
        }
    }

    /// A range replay takes exactly what its confirmation listed: the filter's status too, oldest first, its limit.
    @Test func aRangeReplayTakesWhatItsConfirmationShowed() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                for (n, status) in [WebhookEventStatus.failed, .processed, .failed, .failed].enumerated() {
                    let body = #"{"connectionId":"replay-\#(n)","from":"hubspot","payload":{"n":\#(n)},"providerConfigKey":"hubspot","type":"forward"}"#
                    var event = InboxEvent(type: "forward", dedupeKey: "console-replay-\(n)", rawBody: body)
                    event.connectionId = "replay-\(n)"
                    event.integrationId = "hubspot"
                    _ = try await database.withConnection { db in
                        try await WebhookEventsTable.insertBatch([(event, status)], on: db, logger: TestEnvironment.logger)
                    }
                }
                let app = buildApplication(try await TestApp.dependencies(database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                try await app.test(.router) { client in
                    let (cookie, csrf) = try await Self.signIn(client, token: Self.admin)
                    let page = String(buffer: try await client.execute(
                        uri: "/console/events/replay?since=2000-01-01T00:00:00Z&status=failed&limit=2", method: .get, headers: [.cookie: cookie]).body)
                    #expect(page.contains(#"<strong id="replay-count">2+ (the first 2)</strong>"#))
                    #expect(page.contains("replay-0") && page.contains("replay-2") && !page.contains("replay-1") && !page.contains("replay-3"))
                    #expect(page.contains(#"name="limit" value="2""#))
                    let done = try await client.execute(
                        uri: "/console/events/replay", method: .post,
                        headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                        body: ByteBuffer(string: "csrf=\(csrf)&since=2000-01-01T00%3A00%3A00Z&status=failed&limit=2"))
                    #expect(done.headers[.location] == "/console/events?notice=replayed_range&n=2")
                }
                let replayed = try await database.query(
                    "SELECT connection_id FROM webhook_events WHERE job_id IS NOT NULL ORDER BY id", logger: TestEnvironment.logger
                ).map { try $0.decode(String.self) }
                #expect(replayed == ["replay-0", "replay-2"])
            }
        }
    }

    /// A company's page shows the end of its change feed (the newest change, how many, the 20 newest) and the
    /// overview's chart the changes per minute of every company over its last hour. Every value below is written out
    /// from the fixture. The fixture's statements run one after another, so its changes' versions rise in the order
    /// they are written; `version(n)` is the n-th (other triggers may draw from the same sequence, so not n itself).
    @Test func theCompanyPageShowsItsChangeFeedAndTheOverviewItsChangesPerMinute() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                let logger = TestEnvironment.logger
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: logger)
                let (a, b) = try await database.withConnection { db in
                    var ids: [UUID] = []
                    for connection in ["feed-a", "feed-b"] {    // changes 1 (A) and 2 (B): company.updated
                        let rows = try await db.query("""
                            INSERT INTO companies (connection_id, integration_id, provider, name)
                            VALUES (\(connection), 'hubspot', 'hubspot', \("Company " + connection)) RETURNING id
                            """, logger: logger)
                        for try await id in rows.decode(UUID.self) { ids.append(id) }
                    }
                    return (ids[0], ids[1])
                }
                func write(_ query: PostgresQuery) async throws { _ = try await database.query(query, logger: logger) }
                // Changes 3–22: twenty contacts of A in one statement.
                try await write("""
                    INSERT INTO contacts (company_id, external_id, display_name, content_hash, raw)
                    SELECT \(a), 'bulk-' || lpad(n::text, 2, '0'), 'Bulk ' || n, 'h', '{}' FROM generate_series(1, 20) AS n
                    """)
                // 23 and 24: a contact whose external id needs escaping, created then renamed.
                let odd = #"x<&>"y"#
                try await write("INSERT INTO contacts (company_id, external_id, display_name, content_hash, raw) VALUES (\(a), \(odd), 'Odd', 'h', '{}')")
                try await write("UPDATE contacts SET display_name = 'Renamed' WHERE external_id = \(odd)")
                // 25 and 26: a product created, then deleted.
                try await write("INSERT INTO products (company_id, external_id, name, content_hash, raw) VALUES (\(a), 'p-1', 'Widget', 'h', '{}')")
                try await write("UPDATE products SET deleted_at = now() WHERE external_id = 'p-1'")
                // 27 and 28: B's contacts.
                try await write("INSERT INTO contacts (company_id, external_id, display_name, content_hash, raw) VALUES (\(b), 'b-1', 'B one', 'h', '{}')")
                try await write("INSERT INTO contacts (company_id, external_id, display_name, content_hash, raw) VALUES (\(b), 'b-2', 'B two', 'h', '{}')")
                let versions = try await database.query("SELECT seq FROM changes ORDER BY seq", logger: logger).map { try $0.decode(Int.self) }
                try #require(versions.count == 28, "the fixture writes 28 changes")
                let version = { (n: Int) in versions[n - 1] }

                // When they happened: two outside the overview's hour, the rest in three of its minutes.
                let minute = (Date().timeIntervalSince1970 / 60).rounded(.down) * 60
                let at = { (offset: Double) in Date(timeIntervalSince1970: minute + offset) }
                for (changes, time) in [(1...2, at(-3 * 3600)), (3...22, at(-600 + 5)), (23...24, at(-240 + 10)), (25...26, at(-120 + 20)), (27...28, at(-120 + 30))] {
                    try await write("UPDATE changes SET occurred_at = \(time) WHERE seq BETWEEN \(version(changes.lowerBound)) AND \(version(changes.upperBound))")
                }
                let xid26 = try await database.query("SELECT xid::text FROM changes WHERE seq = \(version(26))", logger: logger)[0].decode(String.self)
                let (v26, v28) = (version(26), version(28))
                let newestOfA = [26, 25, 24, 23] + Array((7...22).reversed()), ofB = [28, 27, 2]
                let (expectedA, expectedB) = (newestOfA.map(version), ofB.map(version))
                let iso = DateFormatter()
                iso.locale = Locale(identifier: "en_US_POSIX")
                iso.timeZone = TimeZone(identifier: "UTC")
                iso.dateFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'"
                let label = DateFormatter()
                label.locale = iso.locale
                label.timeZone = iso.timeZone
                label.dateFormat = "HH:mm"
                let (newest, renamed, bulk) = (iso.string(from: at(-120 + 20)), iso.string(from: at(-240 + 10)), iso.string(from: at(-600 + 5)))
                let minutes = [at(-600), at(-240), at(-120)].map(label.string(from:))

                let app = buildApplication(try await TestApp.dependencies(database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                try await app.test(.router) { client in
                    let (cookie, _) = try await Self.signIn(client, token: Self.admin)
                    func page(_ path: String) async throws -> String {
                        let answer = try await client.execute(uri: path, method: .get, headers: [.cookie: cookie])
                        #expect(answer.status == .ok, "\(path)")
                        return String(buffer: answer.body)
                    }

                    // A: 25 changes (its company, 20 + 2 contact changes, 2 product changes); the newest is the 26th.
                    let pageA = try await page("/console/companies/\(a.uuidString.lowercased())")
                    #expect(pageA.contains(#"<span id="change-count">25</span>"#))
                    #expect(pageA.contains(#"<span id="change-head-type">product.deleted</span> of <code>p-1</code>"#))
                    #expect(pageA.contains(#"<dd id="change-head-version">\#(v26)</dd>"#))
                    #expect(pageA.contains(#"<code id="change-head-position">\#(xid26).\#(v26)</code>"#))
                    #expect(pageA.contains(#"<time id="change-head-at" datetime="\#(newest)">"#))
                    let rows = try Self.changeRows(pageA)
                    #expect(rows.map(\.version) == expectedA, "the 20 newest, newest first")
                    #expect(rows.map(\.type) == ["product.deleted", "product.created", "contact.updated", "contact.created"]
                        + Array(repeating: "contact.created", count: 16))
                    #expect(rows.prefix(4).map(\.externalId) == ["<code>p-1</code>", "<code>p-1</code>",
                                                               "<code>x&lt;&amp;&gt;&quot;y</code>", "<code>x&lt;&amp;&gt;&quot;y</code>"])
                    #expect(rows.dropFirst(4).allSatisfy { $0.externalId.hasPrefix("<code>bulk-") })
                    #expect(rows.map(\.at) == [newest, newest, renamed, renamed] + Array(repeating: bulk, count: 16))
                    #expect(!pageA.contains(odd) && !pageA.contains("b-1") && !pageA.contains("company.updated"),
                            "escaped; no other company's change; A's own company change is its 25th newest")

                    // B: its company and two contacts.
                    let pageB = try await page("/console/companies/\(b.uuidString.lowercased())")
                    #expect(pageB.contains(#"<span id="change-count">3</span>"#))
                    #expect(pageB.contains(#"<dd id="change-head-version">\#(v28)</dd>"#))
                    #expect(try Self.changeRows(pageB).map { "\($0.type) \($0.externalId)" }
                        == ["contact.created <code>b-2</code>", "contact.created <code>b-1</code>", "company.updated <code>feed-b</code>"])
                    #expect(try Self.changeRows(pageB).map(\.version) == expectedB)

                    // The overview: every company's changes of the last hour, by minute (changes 1 and 2 are older).
                    let overview = try await page("/console")
                    let chart = try Self.slice(overview, from: #"id="changes-per-minute""#, to: "</section>")
                    #expect(chart.contains(#"<span class="muted" id="changes-last-hour">26 in the last hour</span>"#))
                    let bars = chart.matches(of: /<title>(\d\d:\d\d) UTC: (\d+)<\/title>/).map { (String($0.1), Int($0.2)!) }
                    #expect(bars.count == 60, "one bar a minute")
                    #expect(bars.filter { $0.1 > 0 }.map { "\($0.0) \($0.1)" }
                        == ["\(minutes[0]) 20", "\(minutes[1]) 2", "\(minutes[2]) 4"])
                    #expect(chart.contains(">max 20</text>"))
                }
            }
        }
    }

    /// The drift check on the console: the overview flags the open drifts (how many, the newest five with their
    /// companies, counts and since when, linked to their pages), the company page each model's drift (open flagged,
    /// healed quiet, with when) beside its last check's result; with none open the overview says so quietly, and the
    /// live signature moves with a drift row. Every value is written out from the fixture, escaped.
    @Test func theOverviewAndTheCompanyPageFlagDrift() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                let logger = TestEnvironment.logger
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: logger)
                @Sendable func write(_ query: PostgresQuery) async throws { _ = try await database.query(query, logger: logger) }
                func company(_ connection: String, _ name: String) async throws -> UUID {
                    try await database.query("""
                        INSERT INTO companies (connection_id, integration_id, provider, name) VALUES (\(connection), 'hubspot', 'hubspot', \(name)) RETURNING id
                        """, logger: logger)[0].decode(UUID.self)
                }
                let a = try await company("drift-a", #"Acme <&> "Drift""#)
                let b = try await company("drift-b", "Beta")
                let c = try await company("drift-c", "Calm")
                let now = (Date().timeIntervalSince1970 / 60).rounded(.down) * 60
                let at: @Sendable (Double) -> Date = { minutes in Date(timeIntervalSince1970: now + minutes * 60) }
                func drift(_ company: UUID, _ connection: String, _ model: String, _ state: String, _ nango: Int, _ ours: Int,
                           detected: Date, healed: Date? = nil) async throws {
                    try await write("""
                        INSERT INTO sync_drift (company_id, model, integration_id, connection_id, state, nango_count, our_count, detected_at, healed_at)
                        VALUES (\(company), \(model), 'hubspot', \(connection), \(state), \(nango), \(ours), \(detected), \(healed))
                        """)
                }
                // Open: A's contacts (newest), B's tick<ets>, and B's m1…m5 (older); healed: A's deals.
                try await drift(a, "drift-a", "contacts", "open", 57, 54, detected: at(-30))
                try await drift(a, "drift-a", "deals", "healed", 10, 10, detected: at(-300), healed: at(-200))
                try await drift(b, "drift-b", "tick<ets>", "open", 3, 5, detected: at(-60))
                for n in 1...5 { try await drift(b, "drift-b", "m\(n)", "open", 100 + n, n, detected: at(-120 + Double(n))) }
                // What A's last checks found: notes was skipped (no drift row), contacts and deals checked.
                for (model, checked, result) in [("contacts", at(-30), "mismatch: Nango 57, ours 54"), ("deals", at(-200), "agreed: Nango 10, ours 10"),
                                                 ("notes", at(-10), "skipped: Nango's sync is running <RUNNING>")] {
                    try await write("""
                        INSERT INTO sync_state (connection_id, model, integration_id, company_id, drift_checked_at, drift_check_result)
                        VALUES ('drift-a', \(model), 'hubspot', \(a), \(checked), \(result))
                        """)
                }
                let iso: @Sendable (Date) -> String = { date in date.formatted(.iso8601) }
                let utc: @Sendable (Date) -> String = { date in iso(date).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC") }
                let time: @Sendable (Date) -> String = { date in #"<time datetime="\#(iso(date))">\#(utc(date))</time>"# }
                let (idA, idB, idC) = (a.uuidString.lowercased(), b.uuidString.lowercased(), c.uuidString.lowercased())

                let app = buildApplication(try await TestApp.dependencies(database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                try await app.test(.router) { client in
                    let (cookie, _) = try await Self.signIn(client, token: Self.admin)
                    func page(_ path: String) async throws -> String {
                        let answer = try await client.execute(uri: path, method: .get, headers: [.cookie: cookie])
                        #expect(answer.status == .ok, "\(path)")
                        return String(buffer: answer.body)
                    }

                    // The overview: 7 open, the newest five listed newest first, 2 more.
                    let overview = try await page("/console")
                    let flag = try Self.slice(overview, from: #"<div class="drift-flag" id="drift-flag">"#, to: "</div>\n</section>")
                    #expect(flag.contains(#"<span id="drift-open">7</span> open"#))
                    let row: @Sendable (String, String, String, String, Int, Int, Date) -> String = { id, name, connection, model, nango, ours, since in
                        #"<tr><td><a href="/console/companies/\#(id)">\#(name)</a></td><td>hubspot/\#(connection)</td><td>\#(model)</td>"#
                            + #"<td class="num">\#(nango)</td><td class="num">\#(ours)</td><td>\#(time(since))</td></tr>"#
                    }
                    #expect(Self.driftRows(flag) == [
                        row(idA, "Acme &lt;&amp;&gt; &quot;Drift&quot;", "drift-a", "contacts", 57, 54, at(-30)),
                        row(idB, "Beta", "drift-b", "tick&lt;ets&gt;", 3, 5, at(-60)),
                        row(idB, "Beta", "drift-b", "m5", 105, 5, at(-115)),
                        row(idB, "Beta", "drift-b", "m4", 104, 4, at(-116)),
                        row(idB, "Beta", "drift-b", "m3", 103, 3, at(-117)),
                    ])
                    #expect(flag.contains(#"<p class="hint" id="drift-more">and 2 more: "#))
                    #expect(!overview.contains("no-drift") && !overview.contains(">deals<") && !overview.contains("Acme <&>") && !overview.contains("tick<"),
                            "escaped; a healed drift is not flagged")

                    // A's page: contacts flagged open; per model its drift and last check, deals healed quietly, notes skipped.
                    let pageA = try await page("/console/companies/\(idA)")
                    #expect(pageA.contains(#"<div class="drift-flag" id="drift-flag"><strong>Drift open</strong> on <span id="drift-models">contacts</span>"#))
                    #expect(Self.modelDriftRows(pageA) == [
                        #"<tr data-model="contacts" class="drift-open"><td>contacts</td><td><span class="badge d-open">open</span></td>"#
                            + #"<td class="num">57</td><td class="num">54</td><td>\#(time(at(-30)))</td><td></td><td>\#(time(at(-30)))</td>"#
                            + #"<td class="check-result">mismatch: Nango 57, ours 54</td></tr>"#,
                        #"<tr data-model="deals"><td>deals</td><td><span class="badge d-healed">healed</span></td>"#
                            + #"<td class="num">10</td><td class="num">10</td><td>\#(time(at(-300)))</td><td>\#(time(at(-200)))</td><td>\#(time(at(-200)))</td>"#
                            + #"<td class="check-result">agreed: Nango 10, ours 10</td></tr>"#,
                        #"<tr data-model="notes"><td>notes</td><td><span class="muted">none</span></td>"#
                            + #"<td class="num"></td><td class="num"></td><td></td><td></td><td>\#(time(at(-10)))</td>"#
                            + #"<td class="check-result">skipped: Nango&#39;s sync is running &lt;RUNNING&gt;</td></tr>"#,
                    ])
                    #expect(!pageA.contains("<RUNNING>") && !pageA.contains("tick"))
                    // B's page: its six open models flagged; C's: never checked, nothing flagged.
                    let pageB = try await page("/console/companies/\(idB)")
                    #expect(pageB.contains(#"<span id="drift-models">m1, m2, m3, m4, m5, tick&lt;ets&gt;</span>"#))
                    #expect(Self.modelDriftRows(pageB).map { $0.prefix(while: { $0 != ">" }) }
                        == ["m1", "m2", "m3", "m4", "m5", "tick&lt;ets&gt;"].map { #"<tr data-model="\#($0)" class="drift-open""# })
                    let pageC = try await page("/console/companies/\(idC)")
                    #expect(!pageC.contains("drift-flag") && pageC.contains(#"<tr><td colspan="8">Not checked yet.</td></tr>"#))

                    // Live: the signature stays while nothing happens and moves with a drift row; then nothing is open.
                    func signature() async throws -> String {
                        try #require(try await page("/console").firstMatch(of: /data-live-since="([^"]*)"/).map { String($0.1) })
                    }
                    try await Task.sleep(for: .milliseconds(1600))
                    let first = try await signature()
                    try await write("UPDATE sync_drift SET state = 'healed', healed_at = now(), updated_at = now() WHERE state = 'open'")
                    try await Task.sleep(for: .milliseconds(1600))
                    #expect(try await signature() != first)
                    let quiet = try await page("/console")
                    #expect(quiet.contains(#"<p class="muted" id="no-drift">No drift: "#) && !quiet.contains("drift-flag"))
                    #expect(!(try await page("/console/companies/\(idA)")).contains("drift-flag"))
                }
            }
        }
    }

    /// The overview's open drifts, a row each.
    static func driftRows(_ html: String) -> [String] {
        html.matches(of: /<tr><td><a href="\/console\/companies\/[^"]+">.*?<\/tr>/).map { String($0.0) }
    }

    /// A company page's drift check, a row per model.
    static func modelDriftRows(_ html: String) -> [String] {
        guard let table = try? slice(html, from: #"<table id="drift">"#, to: "</table>") else { return [] }
        return table.matches(of: /<tr data-model=.*?<\/tr>/).map { String($0.0) }
    }

    /// Endpoints on loopback over http, as the console test's fixture registers them.
    static let outboundSettings = ["OUTBOUND_ALLOW_HTTP": "true", "OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true", "CONSOLE_VIEWER_TOKEN": viewer]

    /// The outbound pages: each endpoint's pending and failed messages, its share of attempts answered 2xx per UTC hour
    /// over the last 24 (the sparkline's points and where they are drawn), the newest attempts with code, latency and
    /// answer; then every action and what it did in the database, the rotated secret shown once, the viewer's page
    /// without actions, and the live signature moving with an attempt. Every value is written out from the fixture.
    @Test func theOutboundPagesShowEndpointsTheirAttemptsAndTheirActions() async throws {
        try await TestDatabase.with { configuration in
            try await Database.running(configuration) { database in
                let logger = TestEnvironment.logger
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: logger)
                let app = buildApplication(
                    try await TestApp.dependencies(Self.outboundSettings, database: configuration), port: 0, migrateOnStart: false, backgroundJobs: false)
                try await app.test(.router) { client in
                    func create(_ body: String) async throws -> (id: String, secret: String) {
                        let answer = try await client.execute(
                            uri: "/api/admin/webhook-endpoints", method: .post, headers: [.adminToken: Self.admin, .contentType: "application/json"],
                            body: ByteBuffer(string: body))
                        #expect(answer.status == .created)
                        let json = try JSONValue.parse(answer.body.readableBytesView)
                        return (try #require(json["id"]?.string), try #require(json["secret"]?.string))
                    }
                    let a = try await create(#"{"url": "http://127.0.0.1:9/a", "description": "Billing <ops>"}"#)
                    let b = try await create(#"{"url": "http://127.0.0.1:9/b"}"#)

                    // The fixture, in whole UTC hours back from the current one (H): A's messages and attempts
                    //   a1 delivered: H-5h+60s 500 "oops" 12 ms, H-5h+120s 200 "ok" 8 ms     → hour H-5: 1 of 2
                    //   a2 failed, made H-30h: H-30h 503 "busy" 30 ms                        → older than the chart
                    //   a3 failed, made H-1h: H-1h+10s no answer ("connection refused") 3 ms, H-1h+20s 404 "<html>nope</html>" 25 ms → H-1: 0 of 2
                    //   a4 pending, made now, never tried
                    //   a5 delivered, made H: H 204 (empty answer) 40 ms                      → H: 1 of 1
                    // and B's: b1 failed, made H-3h: H-3h 500 "down" 15 ms (H-3: 0 of 1); b2 delivered, made H-25h: 200 "fine" 5 ms.
                    let hour = (Date().timeIntervalSince1970 / 3600).rounded(.down) * 3600
                    let at = { (hours: Double, seconds: Double) in Date(timeIntervalSince1970: hour + hours * 3600 + seconds) }
                    func message(_ id: String, _ endpoint: String, _ type: String, _ status: String, made: Date, attempts: Int) async throws -> Int64 {
                        try await database.query("""
                            INSERT INTO webhook_messages (message_id, endpoint_id, event_type, stream, body, status, attempts, created_at)
                            VALUES (\(id), \(UUID(uuidString: endpoint)!), \(type), \(type), '{}', \(status), \(attempts), \(made)) RETURNING id
                            """, logger: logger)[0].decode(Int64.self)
                    }
                    func attempt(_ message: Int64, _ when: Date, _ code: Int?, _ latency: Int, _ excerpt: String?, _ error: String? = nil) async throws {
                        _ = try await database.query("""
                            INSERT INTO webhook_attempts (message_id, attempted_at, status_code, latency_ms, response_excerpt, error)
                            VALUES (\(message), \(when), \(code), \(latency), \(excerpt), \(error))
                            """, logger: logger)
                    }
                    let a1 = try await message("msg_a1", a.id, "contacts.changed", "delivered", made: at(-5, 0), attempts: 2)
                    try await attempt(a1, at(-5, 60), 500, 12, "oops")
                    try await attempt(a1, at(-5, 120), 200, 8, "ok")
                    let a2 = try await message("msg_a2", a.id, "contacts.changed", "failed", made: at(-30, 0), attempts: 1)
                    try await attempt(a2, at(-30, 0), 503, 30, "busy")
                    let a3 = try await message("msg_a3", a.id, "sync.failed", "failed", made: at(-1, 0), attempts: 2)
                    try await attempt(a3, at(-1, 10), nil, 3, nil, "connection refused")
                    try await attempt(a3, at(-1, 20), 404, 25, "<html>nope</html>")
                    _ = try await message("msg_a4", a.id, "webhook.test", "pending", made: Date(), attempts: 0)
                    let a5 = try await message("msg_a5", a.id, "contacts.changed", "delivered", made: at(0, 0), attempts: 1)
                    try await attempt(a5, at(0, 0), 204, 40, "")
                    let b1 = try await message("msg_b1", b.id, "contacts.changed", "failed", made: at(-3, 0), attempts: 1)
                    try await attempt(b1, at(-3, 0), 500, 15, "down")
                    let b2 = try await message("msg_b2", b.id, "contacts.changed", "delivered", made: at(-25, 0), attempts: 1)
                    try await attempt(b2, at(-25, 0), 200, 5, "fine")
                    let label = DateFormatter()
                    label.locale = Locale(identifier: "en_US_POSIX")
                    label.timeZone = TimeZone(identifier: "UTC")
                    label.dateFormat = "HH:mm"
                    let hourLabel = { (hours: Double) in label.string(from: at(hours, 0)) + " UTC" }

                    let (cookie, csrf) = try await Self.signIn(client, token: Self.admin)
                    let (viewerCookie, viewerCSRF) = try await Self.signIn(client, token: Self.viewer)
                    func page(_ path: String, _ cookie: String) async throws -> String {
                        let answer = try await client.execute(uri: path, method: .get, headers: [.cookie: cookie])
                        #expect(answer.status == .ok, "\(path)")
                        return String(buffer: answer.body)
                    }
                    func post(_ path: String, _ form: String, viewer: Bool = false) async throws -> (status: HTTPResponse.Status, location: String?, body: String) {
                        let answer = try await client.execute(
                            uri: path, method: .post,
                            headers: [.cookie: viewer ? viewerCookie : cookie, .contentType: "application/x-www-form-urlencoded"],
                            body: ByteBuffer(string: "csrf=\(viewer ? viewerCSRF : csrf)" + (form.isEmpty ? "" : "&" + form)))
                        return (answer.status, answer.headers[.location], String(buffer: answer.body))
                    }
                    func status(_ message: String) async throws -> String {
                        try await database.query("SELECT status || ' ' || attempts FROM webhook_messages WHERE message_id = \(message)", logger: logger)[0]
                            .decode(String.self)
                    }

                    // The list: both endpoints with their counts and sparklines, every endpoint's attempts newest first.
                    let list = try await page("/console/outbound", cookie)
                    #expect(list.contains(#"<a href="/console/outbound" aria-current="page">Outbound</a>"#))
                    #expect(list.contains(#"data-live="on""#))
                    #expect(list.contains(#"<span id="pending-total">1</span> pending, <span id="failed-total">3</span> failed"#))
                    let rowA = try Self.slice(list, from: #"<tr data-endpoint-id="\#(a.id)">"#, to: "</tr>")
                    let rowB = try Self.slice(list, from: #"<tr data-endpoint-id="\#(b.id)">"#, to: "</tr>")
                    #expect(list.range(of: a.id)!.lowerBound < list.range(of: b.id)!.lowerBound, "oldest first")
                    #expect(rowA.contains(#"<div class="muted">Billing &lt;ops&gt;</div>"#) && !list.contains("Billing <ops>"))
                    #expect(rowA.contains(#"<td class="num pending">1</td><td class="num failed">2</td>"#))
                    #expect(rowB.contains(#"<td class="num pending">0</td><td class="num failed">1</td>"#))
                    #expect(Self.sparkPoints(rowA) == ["\(hourLabel(-5)): 1 of 2", "\(hourLabel(-1)): 0 of 2", "\(hourLabel(0)): 1 of 1"])
                    #expect(Self.sparkPoints(rowB) == ["\(hourLabel(-3)): 0 of 1"])
                    #expect(rowA.contains(#"<span class="muted share">40% of 5 answered 2xx</span>"#))
                    #expect(rowB.contains(#"<span class="muted share">0% of 1 answered 2xx</span>"#))
                    // 24 hours in 120 px: hour i of the day at x = 5i + 2.5; 100 % at y 3, 0 % at y 25. H-5 is hour 18, H-1 and H
                    // are 22 and 23, joined by a line; H-5 stands alone.
                    #expect(rowA.contains(#"<circle cx="92.5" cy="14.0" r="2">"#))
                    #expect(rowA.contains(#"<circle cx="112.5" cy="25.0" r="2" class="none">"#))
                    #expect(rowA.contains(#"<circle cx="117.5" cy="3.0" r="2">"#))
                    #expect(rowA.matches(of: /<polyline points="([^"]+)"\/>/).map { String($0.1) } == ["112.5,25.0 117.5,3.0"])
                    #expect(try Self.attemptRows(list) == [
                        "msg_a5 \(a.id) contacts.changed 204 ok 40 ms  delivered",
                        "msg_a3 \(a.id) sync.failed 404 25 ms <code title=\"&lt;html&gt;nope&lt;/html&gt;\">&lt;html&gt;nope&lt;/html&gt;</code> failed",
                        "msg_a3 \(a.id) sync.failed — 3 ms <span class=\"error-text\">connection refused</span> failed",
                        "msg_b1 \(b.id) contacts.changed 500 15 ms <code title=\"down\">down</code> failed",
                        "msg_a1 \(a.id) contacts.changed 200 ok 8 ms <code title=\"ok\">ok</code> delivered",
                        "msg_a1 \(a.id) contacts.changed 500 12 ms <code title=\"oops\">oops</code> delivered",
                        "msg_b2 \(b.id) contacts.changed 200 ok 5 ms <code title=\"fine\">fine</code> delivered",
                        "msg_a2 \(a.id) contacts.changed 503 30 ms <code title=\"busy\">busy</code> failed",
                    ])
                    #expect(list.contains("/messages/msg_a3/resend"))

                    // A's page: its facts, the secret masked, its last day of attempts (not a2's, 30 h old), its failed messages.
                    let pathA = "/console/outbound/\(a.id)", pathB = "/console/outbound/\(b.id)"
                    let pageA = try await page(pathA, cookie)
                    #expect(pageA.contains(#"<code id="endpoint-url">http://127.0.0.1:9/a</code>"#))
                    #expect(pageA.contains(#"<span class="badge s-enabled" id="endpoint-status">enabled</span>"#))
                    #expect(pageA.contains(#"<span id="pending-count">1</span> pending, <span id="failed-count">2</span> failed"#))
                    #expect(pageA.contains(#"<code id="secret">whsec_…\#(a.secret.suffix(4))</code>"#) && !pageA.contains(a.secret))
                    #expect(pageA.contains(#"<span class="muted" id="share">40% of 5 answered 2xx</span>"#))
                    #expect(Self.sparkPoints(try Self.slice(pageA, from: #"id="success-h""#, to: "</svg>"))
                        == ["\(hourLabel(-5)): 1 of 2", "\(hourLabel(-1)): 0 of 2", "\(hourLabel(0)): 1 of 1"])
                    #expect(try Self.attemptRows(pageA).map { $0.split(separator: " ").prefix(3).joined(separator: " ") }
                        == ["msg_a5 contacts.changed 204", "msg_a3 sync.failed 404", "msg_a3 sync.failed —", "msg_a1 contacts.changed 200",
                            "msg_a1 contacts.changed 500"])
                    let failedTable = try Self.slice(pageA, from: #"<table id="failed-messages">"#, to: "</table>")
                    #expect(failedTable.matches(of: /<tr data-message-id="([^"]+)">/).map { String($0.1) } == ["msg_a3", "msg_a2"])
                    let since = try #require(pageA.firstMatch(of: /id="recover-since" value="([^"]+)"/).map { String($0.1) })
                    let sinceDate = try #require(ISO8601DateFormatter().date(from: since))
                    #expect(abs(sinceDate.timeIntervalSinceNow + 86_400) < 60, "recover asks for 24 hours ago by default: \(since)")
                    for action in ["/test", "/rotate", "/recover", "/status", "/messages/msg_a3/resend"] {
                        #expect(pageA.contains(#"action="\#(pathA)\#(action)""#), "\(action)")
                    }

                    // The viewer: the same pages, no action, its POST refused.
                    for path in ["/console/outbound", pathA] {
                        let shown = try await page(path, viewerCookie)
                        #expect(shown.contains("msg_a3") && !shown.contains("Resend") && !shown.contains(#"method="post" action="/console/outbound"#), "\(path)")
                    }
                    #expect(try await post(pathA + "/rotate", "", viewer: true).status == .forbidden)
                    #expect(try await post(pathA + "/status", "status=disabled", viewer: true).status == .forbidden)

                    // Disable: A's pending message is kept as failed; enable again.
                    #expect(try await post(pathA + "/status", "status=paused").status == .badRequest)
                    #expect(try await post(pathA + "/status", "status=disabled").location == pathA + "?notice=endpoint_disabled")
                    #expect(try await status("msg_a4") == "failed 0")
                    let disabled = try await page(pathA + "?notice=endpoint_disabled", cookie)
                    #expect(disabled.contains("Endpoint disabled: its pending messages are kept as failed, for recover."))
                    #expect(disabled.contains(#"id="endpoint-status">disabled</span> <span class="muted">disabled by ops</span>"#))
                    #expect(disabled.contains(#"<span id="pending-count">0</span> pending, <span id="failed-count">3</span> failed"#))
                    #expect(disabled.contains(#"id="enable">Enable</button>"#) && !disabled.contains(#"id="disable""#))
                    #expect(try await post(pathA + "/status", "status=enabled").location == pathA + "?notice=endpoint_enabled")
                    #expect(try await database.query("SELECT status FROM webhook_endpoints WHERE id = \(UUID(uuidString: a.id)!)", logger: logger)[0]
                        .decode(String.self) == "enabled")

                    // Send test: a webhook.test message for B, due now.
                    #expect(try await post(pathB + "/test", "").location == pathB + "?notice=test_queued")
                    #expect(try await database.query("""
                        SELECT count(*)::int FROM webhook_messages WHERE endpoint_id = \(UUID(uuidString: b.id)!) AND event_type = 'webhook.test'
                            AND status = 'pending' AND attempts = 0
                        """, logger: logger)[0].decode(Int.self) == 1)

                    // Recover since H-24h: a3 and a4 (failed since the disable) are due again, a2 (made 30 h ago) is not.
                    #expect(try await post(pathA + "/recover", "since=yesterday").status == .badRequest)
                    let recoverSince = at(-24, 0).formatted(.iso8601).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                    #expect(try await post(pathA + "/recover", "since=\(recoverSince)").location == pathA + "?notice=recovered&n=2")
                    #expect(try await [status("msg_a2"), status("msg_a3"), status("msg_a4")] == ["failed 1", "pending 0", "pending 0"])
                    #expect(try await page(pathA + "?notice=recovered&n=2", cookie).contains("Recovered: 2 failed message(s) queued again."))

                    // Resend one: B's failed message, from B's page; not through another endpoint's, not an unknown one.
                    #expect(try await post(pathA + "/messages/msg_b1/resend", "").status == .notFound)
                    #expect(try await post(pathB + "/messages/msg_nope/resend", "").status == .notFound)
                    #expect(try await post(pathB + "/messages/msg_b1/resend", "").location == pathB + "?notice=resent")
                    #expect(try await status("msg_b1") == "pending 0")
                    #expect(try await status("msg_b2") == "delivered 1")

                    // A test for a disabled endpoint is kept as failed, and the notice says so; unknown endpoints are 404.
                    #expect(try await post(pathB + "/status", "status=disabled").location == pathB + "?notice=endpoint_disabled")
                    #expect(try await post(pathB + "/test", "").location == pathB + "?notice=test_kept")
                    #expect(try await database.query("""
                        SELECT string_agg(status, ',' ORDER BY id) FROM webhook_messages
                        WHERE endpoint_id = \(UUID(uuidString: b.id)!) AND event_type = 'webhook.test'
                        """, logger: logger)[0].decode(String.self) == "failed,failed", "the disable failed the pending test too")
                    #expect(try await page(pathB + "?notice=test_kept", cookie).contains("the webhook.test message is kept as failed"))
                    for missing in ["/console/outbound/\(UUID())", "/console/outbound/not-an-id"] {
                        let answer = try await client.execute(uri: missing, method: .get, headers: [.cookie: cookie])
                        #expect(answer.status == .notFound, "\(missing)")
                    }
                    #expect(try await post("/console/outbound/\(UUID())/test", "").status == .notFound)

                    // Rotate: the new secret on the answer's page, once; masked everywhere after, the API's answer too.
                    let rotated = try await client.execute(
                        uri: pathA + "/rotate", method: .post, headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                        body: ByteBuffer(string: "csrf=\(csrf)"))
                    #expect(rotated.status == .ok)
                    #expect(rotated.headers[.cacheControl] == "no-store")
                    let secretPage = String(buffer: rotated.body)
                    let secret = try #require(secretPage.firstMatch(of: /<code id="new-secret">(whsec_[A-Za-z0-9+\/]{43}=)<\/code>/).map { String($0.1) })
                    #expect(secret != a.secret && !secretPage.contains(#"data-live="on""#))
                    let afterRotation = try await page(pathA, cookie)
                    #expect(afterRotation.contains(#"<code id="secret">whsec_…\#(secret.suffix(4))</code>"#))
                    #expect(!afterRotation.contains(secret) && !afterRotation.contains("new-secret"))
                    let listAfterRotation = try await page("/console/outbound", cookie)
                    #expect(!listAfterRotation.contains(secret))
                    #expect(afterRotation.contains("the previous one also signs until"))
                    let api = try await client.execute(uri: "/api/admin/webhook-endpoints/\(a.id)", method: .get, headers: [.adminToken: Self.admin])
                    #expect(try JSONValue.parse(api.body.readableBytesView)["secret"]?.string == "whsec_…" + secret.suffix(4))

                    // Live: the page's signature stays while nothing happens and moves with a new attempt (read at most every 1.5 s).
                    func signature() async throws -> String {
                        try #require(try await page("/console/outbound", cookie).firstMatch(of: /data-live-since="([^"]*)"/).map { String($0.1) })
                    }
                    // (The instance's last reading may be from before the actions above: let it age first.)
                    try await Task.sleep(for: .milliseconds(1600))
                    let first = try await signature()
                    try await Task.sleep(for: .milliseconds(1600))
                    let second = try await signature()
                    #expect(second == first)
                    try await attempt(b2, Date(), 200, 7, "again")
                    try await Task.sleep(for: .milliseconds(1600))
                    #expect(try await signature() != first)
                }
            }
        }
    }

    /// The points of the sparklines in `html`: "HH:MM UTC: succeeded of attempts".
    static func sparkPoints(_ html: String) -> [String] {
        html.matches(of: /<title>(\d\d:\d\d UTC: \d+ of \d+) answered 2xx<\/title>/).map { String($0.1) }
    }

    /// An outbound page's attempts: message, endpoint (the list's), type, code (and "ok" for a 2xx), latency, the
    /// response cell, the message's status.
    static func attemptRows(_ html: String) throws -> [String] {
        let table = try slice(html, from: #"<table id="attempts">"#, to: "</table>")
        let pattern = /<tr data-message-id="([^"]+)"><td><time datetime="[^"]+">[^<]*<\/time><\/td>(?:<td><a href="\/console\/outbound\/([^"]+)">[^<]*<\/a><\/td>)?<td><code>[^<]*<\/code> ([^<]*)<\/td><td class="num"><span class="code( ok)?">([^<]*)<\/span><\/td><td class="num">(\d+ ms)<\/td><td class="excerpt">(.*?)<\/td><td><span class="badge s-\w+">(\w+)<\/span>/
        return table.matches(of: pattern).map { match -> String in
            let endpoint: String? = match.2.map(String.init)
            let code: String = String(match.5) + (match.4 == nil ? "" : " ok")
            let fields: [String?] = [String(match.1), endpoint, String(match.3), code, String(match.6), String(match.7), String(match.8)]
            return fields.compactMap { $0 }.joined(separator: " ")
        }
    }

    /// The rows of a company page's last changes: version, type, the external id's cell, the time's `datetime`.
    static func changeRows(_ html: String) throws -> [(version: Int, type: String, externalId: String, at: String)] {
        let table = try slice(html, from: #"<table id="changes">"#, to: "</table>")
        return table.matches(of: /<tr data-version="(\d+)"><td><time datetime="([^"]+)">[^<]*<\/time><\/td><td>([^<]*)<\/td><td>(.*?)<\/td><td class="num">(\d+)<\/td><\/tr>/)
            .map { (version: Int($0.1)!, type: String($0.3), externalId: String($0.4), at: String($0.2)) }
    }

    static func slice(_ html: String, from start: String, to end: String) throws -> String {
        let lower = try #require(html.range(of: start)).upperBound
        let upper = try #require(html[lower...].range(of: end)).lowerBound
        return String(html[lower..<upper])
    }

    @Test func signInAttemptsAreLimitedPerAddressAndTheConsoleIsClosedWithoutTokens() async throws {
        try await TestApp.test(.router, ["CONSOLE_SIGNIN_RATE_LIMIT_REQUESTS": "3"]) { client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<4 {
                statuses.append(try await client.execute(
                    uri: "/console/sign-in", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                    body: ByteBuffer(string: "token=wrong-token-0123456789")).status)
            }
            #expect(statuses == [.unauthorized, .unauthorized, .unauthorized, .tooManyRequests])
        }
        try await TestApp.test(.router, ["ADMIN_TOKEN": ""]) { client in
            let page = String(buffer: try await client.execute(uri: "/console/sign-in", method: .get).body)
            #expect(page.contains("The console is closed"))
        }
    }

    @Test func aRotatedTokenEndsTheSessionsItOpened() async throws {
        try await TestDatabase.with { database in
            try await Database.running(database) { client in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(client, logger: TestEnvironment.logger)
            }
            let first = buildApplication(try await TestApp.dependencies(database: database), port: 0, migrateOnStart: false, backgroundJobs: false)
            let cookie = try await first.test(.router) { client in try await Self.signIn(client, token: Self.admin).cookie }
            let rotated = buildApplication(
                try await TestApp.dependencies(["ADMIN_TOKEN": "a-new-admin-token-9876543210"], database: database),
                port: 0, migrateOnStart: false, backgroundJobs: false)
            try await rotated.test(.router) { client in
                let answer = try await client.execute(uri: "/console", method: .get, headers: [.cookie: cookie])
                #expect(answer.status == .seeOther, "a session opened with the old token is over")
            }
        }
    }

    @Test func pagesFailAsPagesAndUnknownIdsAre404() async throws {
        try await TestApp.test(.router) { client in
            let (cookie, _) = try await Self.signIn(client, token: Self.admin)
            let missing = try await client.execute(uri: "/console/jobs/999999", method: .get, headers: [.cookie: cookie])
            #expect(missing.status == .notFound)
            #expect(missing.headers[.contentType] == "text/html; charset=utf-8")
            #expect(String(buffer: missing.body).contains("no such resource"))
            let bad = try await client.execute(uri: "/console/events?status=lost", method: .get, headers: [.cookie: cookie])
            #expect(bad.status == .badRequest)
            #expect(String(buffer: bad.body).contains("&#39;status&#39; must be one of received, processing, processed, ignored, failed"))
            let page = try await client.execute(uri: "/console/quarantine", method: .get, headers: [.cookie: cookie])
            #expect(page.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            #expect(page.headers[.cacheControl] == "no-store")
        }
    }

    @Test func processFiguresAreReadFromProcStat() {
        // proc(5): pid (comm) state ppid … utime(14) stime(15) … starttime(22) vsize(23) rss(24); comm may hold ") ".
        let stat = "4242 (mark (et) place) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 12 0 1000 734003200 5120 18446744073709551615"
        let figures = ProcessFigures.parse(stat: stat, bootTime: 1_700_000_000, ticksPerSecond: 100, pageSize: 4096, openFileDescriptors: 17)
        #expect(figures == ProcessFigures(cpuSeconds: 3.0, residentBytes: 5120 * 4096, openFileDescriptors: 17, startTimeSeconds: 1_700_000_010))
        #expect(ProcessFigures.bootTime(procStat: "cpu  1 2 3\nbtime 1733200000\nprocesses 9\n") == 1_733_200_000)
        #expect(ProcessFigures.parse(stat: "garbage", bootTime: 0, ticksPerSecond: 100, pageSize: 4096, openFileDescriptors: 0) == nil)
        let counter = ProcessCPUCounter()
        #expect(counter.advance(to: 2.5) == 2.5)
        #expect(counter.advance(to: 3.0) == 0.5)
        #expect(counter.advance(to: 2.0) == 0, "never backwards")
    }

    @Test func chartsAndHighlightedJSONEscapeWhatTheyShow() {
        let svg = SVGChart.bars([0, 5, 10], labels: ["a<b", "b", "c"], caption: "x & y", width: 300, height: 116)
        #expect(svg.contains(#"aria-label="x &amp; y""#))
        #expect(svg.contains("<title>a&lt;b: 0</title>"))
        // 100 px of plot (116 - 16), 4 px headroom: 10 is 96 px high, 5 is 48.
        #expect(svg.contains(#"y="4" width="80.0" height="96""#))
        #expect(svg.contains(#"y="52" width="80.0" height="48""#))
        #expect(svg.contains(#"height="0""#))
        let now = Date(timeIntervalSince1970: 600 * 60 + 30)
        let counts: [(minute: Date, count: Int)] = [
            (Date(timeIntervalSince1970: 600 * 60), 4), (Date(timeIntervalSince1970: 598 * 60), 2), (Date(timeIntervalSince1970: 500 * 60), 9),
        ]
        #expect(SVGChart.perMinute(counts, now: now, minutes: 3) == [2, 0, 4])

        let html = ConsoleHTML.prettyJSON(#"{"name":"<script>","email":"rose at edge","n":[1,2]}"#, marked: ["email"])
        #expect(html == """
            {
            <mark>  &quot;email&quot;: &quot;rose at edge&quot;,</mark>
              &quot;n&quot;: [
                1,
                2
              ],
              &quot;name&quot;: &quot;&lt;script&gt;&quot;
            }
            """)
        #expect(ConsoleHTML.prettyJSON("not json <b>") == "not json &lt;b&gt;")
    }

    @Test func theSparklineDrawsEachBucketsShareAndBreaksWhereThereWasNoAttempt() {
        let svg = SVGChart.sparkline([(1, 1), (0, 0), (1, 2), (0, 3)], labels: ["a<b", "b", "c", "d"], caption: "x & y", width: 40, height: 28)
        #expect(svg.contains(#"aria-label="x &amp; y""#))
        // 10 px a bucket: x = 5, 15, 25, 35; 22 px of plot between y 3 (100 %) and y 25 (0 %).
        #expect(svg.contains(#"<circle cx="5.0" cy="3.0" r="2"><title>a&lt;b: 1 of 1 answered 2xx</title></circle>"#))
        #expect(svg.contains(#"<circle cx="25.0" cy="14.0" r="2"><title>c: 1 of 2 answered 2xx</title></circle>"#))
        #expect(svg.contains(#"<circle cx="35.0" cy="25.0" r="2" class="none"><title>d: 0 of 3 answered 2xx</title></circle>"#))
        #expect(!svg.contains("<title>b:"), "no point where there was no attempt")
        // The empty bucket breaks the line: the first point stands alone, the last two are joined.
        #expect(svg.matches(of: /<polyline points="([^"]+)"\/>/).map { String($0.1) } == ["25.0,14.0 35.0,25.0"])
        #expect(svg.contains(#"<line x1="0" y1="3.0" x2="40" y2="3.0" class="axis"/><line x1="0" y1="25.0" x2="40" y2="25.0" class="axis"/>"#))
    }

    @Test func afterSignInOnlyOurOwnConsolePathsAreFollowed() {
        #expect(ConsoleController.safeNext("/console/jobs?status=dead") == "/console/jobs?status=dead")
        #expect(ConsoleController.safeNext("https://evil.example/console") == "/console")
        #expect(ConsoleController.safeNext("//evil.example") == "/console")
        #expect(ConsoleController.safeNext("/console\\@evil.example") == "/console")
        #expect(ConsoleController.safeNext("/console/sign-out") == "/console")
        #expect(ConsoleController.safeNext(nil) == "/console")
    }
}
