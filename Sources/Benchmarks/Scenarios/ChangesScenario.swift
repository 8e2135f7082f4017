import AsyncHTTPClient
import Foundation
import MarketplaceCore
import NIOCore
import NIOHTTP1
import Synchronization
import Tokens

/// The change feed (`GET /api/companies/{id}/changes`) of the company the syncs left, read by a server with no
/// workers: a full page of 1,000 changes under wrk against the cached contacts page of the same server (alternating
/// rounds, as the reads scenario measures the page against `/health`), then how long a held long poll takes to answer
/// after a change commits — the commit's time from Postgres's clock, the answer's from ours (one machine, one clock);
/// then the same wake-ups on a server holding 1,000 other clients' long polls, each on its own company's feed.
enum ChangesScenario {
    /// How long each long poll is held before its change commits: long enough for the server to have read once and be
    /// waiting. A wake-up by the listener's once-a-second tick instead of `NOTIFY` would read anywhere up to 1,000 ms.
    static let holdBeforeCommit = 100...400

    static func run(_ run: BenchRun) async throws -> [Row] {
        progress("change feed")
        let server = try await run.startServer(port: run.settings.basePort + 7, ["NANGO_BASE_URL": "http://127.0.0.1:9", "WORKER_COUNT": "0"])
        let authorization = ("Authorization", "Bearer " + (try await ReadScenario.adminToken(secret: run.settings.jwtSecret)))
        let company = try await run.tools.sql("SELECT company_id FROM contacts GROUP BY company_id ORDER BY count(*) DESC LIMIT 1")
        guard !company.isEmpty else { throw BenchFailure("the change feed scenario reads the contacts a sync leaves: BENCH_ONLY must name sync too") }
        let feed = server.baseURL + "/api/companies/\(company)/changes"
        let contacts = server.baseURL + "/api/companies/\(company)/contacts?limit=50"

        // 1,000 changes of its own after a cursor taken now, written as a sync page writes them (one statement, one
        // transaction): the same page whatever the syncs left in the log (nothing with BENCH_CHANGE_LOG=off, whose
        // switch covers the syncs only).
        let start = try await page(run, feed + "?after=now", authorization).cursor
        let written = try await run.tools.sqlInt("""
            WITH changed AS (
              UPDATE contacts SET title = coalesce(title, '') || ' (bench)' WHERE id IN
                (SELECT id FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL ORDER BY id LIMIT 1000)
              RETURNING 1)
            SELECT count(*) FROM changed
            """)
        let full = feed + "?after=\(start)&limit=1000"
        // The feed shows a change once every older transaction of this database has ended (docs/changes.md): wait for all.
        var first = try await page(run, full, authorization)
        let deadline = ContinuousClock.now + .seconds(30)
        while first.count < written {
            guard ContinuousClock.now < deadline else { throw BenchFailure("the feed shows \(first.count) of the \(written) changes written after 30 s") }
            try await Task.sleep(for: .milliseconds(50))
            first = try await page(run, full, authorization)
        }
        let contactsPage = try await run.http.expectOK(contacts, headers: [authorization])

        let (tools, header) = (run.tools, "\(authorization.0): \(authorization.1)")
        let alternated = try await Alternated(rounds: 5, [
            { await server.settle(); return try await tools.wrk(full, headers: [header]) },
            { await server.settle(); return try await tools.wrk(contacts, headers: [header]) },
        ])
        let (changesRate, cachedRate) = (alternated.medians[0].requestsPerSecond, alternated.medians[1].requestsPerSecond)
        var rows = [
            Row(section: .changes, name: "a full page of \(written) changes (`limit=1000`, \(first.bytes) bytes), \(run.settings.connections) connections",
                figure: .quantity(.rate(changesRate, "req/s")),
                ceiling: Ceiling(name: "cached contacts page (limit 50, \(contactsPage.body.readableBytes) bytes) of the same server, alternating",
                                 quantity: .rate(cachedRate, "req/s")),
                target: .described("req/s beside the cached page's"),
                note: "\(alternated.note(0)); contacts page \(alternated.note(1)); \(alternated.medians[0].latencies); "
                    + String(format: "%.0f changes/s against %.0f contacts/s on the cached page", changesRate * Double(written), cachedRate * 50)
                    + "; never cached: each read asks Postgres"),
        ]
        if run.settings.wakeUps > 0 {
            await server.settle()
            rows += try await wakeUps(run, server: server, feed: feed, company: company, authorization: authorization, after: first.cursor)
        }
        await server.stop()
        if run.settings.wakeUps > 0 { rows += try await wakeUpsUnderLoad(run, company: company, authorization: authorization) }
        return rows
    }

    /// Long polls (`wait=30`) each answered by one change committed while it is held: commit to answer, per sample.
    static func wakeUps(
        _ run: BenchRun, server: Spawned, feed: String, company: String, authorization: (String, String), after start: String
    ) async throws -> [Row] {
        progress("\(run.settings.wakeUps) long polls woken by a commit")
        let timed = try await timeWakeUps(run, server: server, feed: feed, company: company, authorization: authorization, after: start)
        return wakeUpRows(timed, name: "long poll (`wait=30`) answered after one change commits, \(timed.samples.count) samples", note: "")
    }

    /// What ``timeWakeUps`` measured: commit to answer per sample (milliseconds, sorted), and reads finding nothing new.
    struct WakeUps {
        var samples: [Double]
        var empty: [Duration]
        /// The samples (milliseconds) whose commit found an older write transaction of this database open.
        var behindOlder: [Double]
    }

    /// `BENCH_WAKEUPS` long polls, each held 100–400 ms before psql commits one change of `company`'s first contact.
    static func timeWakeUps(
        _ run: BenchRun, server: Spawned, feed: String, company: String, authorization: (String, String), after start: String
    ) async throws -> WakeUps {
        let count = run.settings.wakeUps
        let contact = try await run.tools.sql("SELECT id FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL ORDER BY id LIMIT 1")
        // A read that finds nothing new, as the long poll's own reads do: what a wake-up costs besides the signal.
        var empty: [Duration] = []
        for _ in 0..<50 { empty.append(try await run.http.expectOK(feed + "?after=\(start)&limit=1000", headers: [authorization]).elapsed) }
        empty.sort()

        var cursor = start
        var samples: [Double] = []
        var behindOlder: [Double] = []
        for index in 0..<count {
            try server.checkAlive()
            let held = cursor
            async let answered = firstChange(run, feed: feed, authorization: authorization, after: held)
            try await Task.sleep(for: .milliseconds(Int.random(in: holdBeforeCommit)))
            let committed = try await commit(run, contact: contact, index)
            let (arrival, next) = try await answered
            samples.append((arrival - committed.time) * 1000)
            if committed.olderOpen { behindOlder.append(samples[samples.count - 1]) }
            cursor = next
        }
        samples.sort()
        return WakeUps(samples: samples, empty: empty, behindOlder: behindOlder)
    }

    /// The p99 row (target: under 1 s) and the p50 row of `timed`; `note` goes after what every such row says.
    static func wakeUpRows(_ timed: WakeUps, name: String, note: String) -> [Row] {
        let (samples, count) = (timed.samples, timed.samples.count)
        func milliseconds(_ value: Double) -> Quantity { Quantity(value: value, unit: "ms", decimals: 1) }
        let (p50, p99) = (milliseconds(samples[count / 2]), milliseconds(samples[count * 99 / 100]))
        return [
            Row(section: .changes, name: name + ": p99, commit to answer", figure: .quantity(p99), target: .below(1000),
                note: "p50 \(p50.text), slowest \(milliseconds(samples[count - 1]).text); each poll held \(holdBeforeCommit.lowerBound)–\(holdBeforeCommit.upperBound) ms "
                    + "before its commit (psql; the time is Postgres's `clock_timestamp()` just before `COMMIT`); a wake-up by the listener's "
                    + "once-a-second tick instead of `NOTIFY` would read up to 1,000 ms; a read finding nothing new takes "
                    + "p50 \(Quantity.milliseconds(timed.empty[timed.empty.count / 2]).text); " + olderNote(timed) + (note.isEmpty ? "" : "; " + note)),
            Row(section: .changes, name: name + ": p50, commit to answer", figure: .quantity(p50)),
        ]
    }

    /// How many commits found an older write transaction of this database open (the bench's own writers beside it),
    /// which holds their changes back until it ends, and the samples without one.
    static func olderNote(_ timed: WakeUps) -> String {
        guard !timed.behindOlder.isEmpty else { return "no commit found an older write transaction of this database open" }
        var others = timed.samples
        for value in timed.behindOlder { if let index = others.firstIndex(of: value) { others.remove(at: index) } }
        let slowest = timed.behindOlder.max() ?? 0
        let rest = others.isEmpty ? "" : String(format: "; without them p99 %.1f ms", others[others.count * 99 / 100])
        return "\(timed.behindOlder.count) commits found an older write transaction of this database open (the feed waits for it: "
            + String(format: "the slowest of them %.1f ms)", slowest) + rest
    }

    /// Reads the feed from `cursor` until an answer carries a change: the time that answer arrived (seconds since 1970)
    /// and its cursor. Normally one held request; a hold that ends empty is followed by the next, and counts.
    static func firstChange(_ run: BenchRun, feed: String, authorization: (String, String), after cursor: String) async throws -> (Double, String) {
        var cursor = cursor
        while true {
            let answer = try await run.http.expectOK(feed + "?after=\(cursor)&wait=30", headers: [authorization])
            let arrival = Date().timeIntervalSince1970
            let read = try FeedPage(answer.body)
            if read.count > 0 { return (arrival, read.cursor) }
            cursor = read.cursor
        }
    }

    /// One visible change of `contact`, committed; the time just before its `COMMIT` by Postgres's clock (seconds since
    /// 1970), so the latency measured errs long by the commit itself, never short.
    /// Also whether a write transaction of this database older than this one was open just before the `COMMIT`: the feed
    /// shows the change only once that one has ended too (docs/changes.md).
    static func commit(_ run: BenchRun, contact: String, _ index: Int) async throws -> (time: Double, olderOpen: Bool) {
        let text = try await run.tools.sql(
            "BEGIN", "UPDATE contacts SET title = 'bench wake-up \(index)' WHERE id = '\(contact)'",
            """
            SELECT extract(epoch FROM clock_timestamp()) || ' ' || (SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()
              AND datname = current_database() AND backend_xid IS NOT NULL AND age(backend_xid) > age(pg_current_xact_id()::xid))
            """, "COMMIT")
        let fields = text.split(separator: " ")
        guard fields.count == 2, let seconds = Double(fields[0]), let older = Int(fields[1]) else {
            throw BenchFailure("the wake-up commit printed \(text), not a time and a count")
        }
        return (seconds, older > 0)
    }

    /// One answer of the feed: how many changes, its size and the cursor to go on from.
    struct FeedPage {
        let count: Int
        let bytes: Int
        let cursor: String

        init(_ body: ByteBuffer) throws {
            let json = try JSONValue.parse(body.readableBytesView)
            guard case .array(let data)? = json["data"], let cursor = json["next_cursor"]?.string else {
                throw BenchFailure("a change feed answer without data or next_cursor: \(String(buffer: body).prefix(300))")
            }
            (count, bytes, self.cursor) = (data.count, body.readableBytes, cursor)
        }
    }

    static func page(_ run: BenchRun, _ url: String, _ authorization: (String, String)) async throws -> FeedPage {
        try FeedPage(try await run.http.expectOK(url, headers: [authorization]).body)
    }
}
