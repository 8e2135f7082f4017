import Foundation
import MarketplaceCore
import NIOCore
import NIOHTTP1

/// Outbound webhooks (docs/outbound.md) delivered by a server with no workers to one endpoint registered at the bench's
/// own receiver (``Receiver``, a bare SwiftNIO server in this process), beside that receiver's ceiling from the same run:
/// wrk posting the same body with the same headers over as many connections as the server may use for one endpoint.
/// The messages timed are pending rows inserted in one transaction (copies of a real 100-change message the dispatcher
/// made), so the figure is the delivery path alone: claim, sign, post, record. Then single changes committed one at a
/// time, each timed from just before its `COMMIT` to the arrival of the message carrying it (dispatcher and delivery).
enum OutboundScenario {
    /// `OUTBOUND_MAX_IN_FLIGHT` of the server, and wrk's connections for the ceiling.
    static let inFlight = 8
    /// The timed messages are spread over this many streams, as that many companies' messages would be: a stream's
    /// messages go out one at a time, in order, so fewer streams than slots would measure that rule, not the path.
    static let streams = 64
    /// The pause between one sample's delivery and the next commit: spread, so the commits fall anywhere in the
    /// dispatcher's and the delivery loop's polls rather than at one phase of them.
    static let pauseBeforeCommit = 50...250

    static func run(_ run: BenchRun) async throws -> [Row] {
        progress("outbound webhooks")
        let company = try await run.tools.sql("SELECT company_id FROM contacts GROUP BY company_id ORDER BY count(*) DESC LIMIT 1")
        guard !company.isEmpty else { throw BenchFailure("the outbound scenario changes the contacts a sync leaves: BENCH_ONLY must name sync too") }
        let receiver = try await Receiver.start(port: run.settings.basePort + 8)
        let server: Spawned
        do {
            server = try await run.startServer(port: run.settings.basePort + 10, [
                "NANGO_BASE_URL": "http://127.0.0.1:9", "WORKER_COUNT": "0", "ADMIN_TOKEN": run.settings.adminToken,
                "OUTBOUND_MAX_IN_FLIGHT": "\(inFlight)",
            ])
        } catch {
            await receiver.stop()
            throw error
        }
        do {
            let rows = try await measure(run, server: server, receiver: receiver, company: company)
            await server.stop()
            await receiver.stop()
            return rows
        } catch {
            await server.stop()
            await receiver.stop()
            throw error
        }
    }

    private static func measure(_ run: BenchRun, server: Spawned, receiver: Receiver, company: String) async throws -> [Row] {
        let endpoint = try await subscribe(run, server: server, receiver: receiver)
        let tag = UUID().uuidString.prefix(8).lowercased()

        // A real message: 100 of the company's contacts changed in one statement, made into one `contacts.changed` by the
        // dispatcher and delivered; its stored body (the exact bytes signed) and the headers it arrived with are the ones
        // timed below and the ones wrk posts.
        let marker = "bench-outbound-\(tag)-template"
        receiver.watch(marker)
        try await run.tools.sql("""
            UPDATE contacts SET title = '\(marker)' WHERE id IN
              (SELECT id FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL ORDER BY id LIMIT 100)
            """)
        _ = try await receiver.arrival(of: marker)
        try await waitForDeliveries(run, server: server)
        let template = try await run.tools.sql("""
            SELECT id || ' ' || jsonb_array_length(body::jsonb -> 'data' -> 'changes') || ' ' || octet_length(body) FROM webhook_messages
            WHERE body LIKE '%\(marker)%' ORDER BY octet_length(body) DESC LIMIT 1
            """).split(separator: " ").compactMap { Int($0) }
        guard template.count == 3 else { throw BenchFailure("no stored message carries the template's changes") }
        let (templateId, changes, bytes) = (template[0], template[1], template[2])
        let headers = receiver.state.lastHeaders.filter { !["host", "content-length", "connection"].contains($0.name.lowercased()) }

        var rows = try await deliveries(run, server: server, receiver: receiver, endpoint: endpoint, company: company, templateId: templateId,
                                        changes: changes, bytes: bytes, headers: headers)
        if run.settings.outboundSamples > 0 {
            rows += try await latency(run, server: server, receiver: receiver, company: company, tag: String(tag))
        }
        return rows
    }

    /// `BENCH_DELIVERIES` copies of the template inserted pending in one transaction, timed from just before its `COMMIT`
    /// to the last one recorded `delivered`; then wrk posts the same body with the same headers to the receiver.
    private static func deliveries(
        _ run: BenchRun, server: Spawned, receiver: Receiver, endpoint: String, company: String, templateId: Int, changes: Int, bytes: Int,
        headers: [(name: String, value: String)]
    ) async throws -> [Row] {
        let count = run.settings.deliveries
        progress("\(count) outbound messages delivered")
        await server.settle()
        receiver.reset()
        let cpuAtStart = server.cpuMilliseconds
        let committedText = try await run.tools.sql(
            "BEGIN",
            """
            INSERT INTO webhook_messages (message_id, endpoint_id, event_type, company_id, stream, body)
            SELECT 'msg_bench' || lpad(g::text, 27, '0'), '\(endpoint)', 'contacts.changed', '\(company)', 'bench/' || (g % \(streams)), t.body
            FROM generate_series(1, \(count)) g, (SELECT body FROM webhook_messages WHERE id = \(templateId)) t
            """,
            "SELECT extract(epoch FROM clock_timestamp())", "COMMIT")
        guard let committed = Double(committedText) else { throw BenchFailure("the messages' commit printed \(committedText), not a time") }
        // The receiver's count first (no psql process competing for the cores while the messages go out), then the rows.
        var (seen, progressAt) = (0, ContinuousClock.now)
        while receiver.state.requests < count {
            try server.checkAlive()
            let now = receiver.state.requests
            if now > seen { (seen, progressAt) = (now, .now) }
            guard ContinuousClock.now - progressAt < .seconds(60) else {
                throw BenchFailure("the receiver got \(now) of \(count) messages, none in the last 60 s")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await waitForDeliveries(run, server: server)
        let cpu = server.cpuMilliseconds - cpuAtStart
        let figures = try await run.tools.sql("""
            SELECT count(*) FILTER (WHERE status = 'delivered') || ' ' || extract(epoch FROM max(delivered_at))
            FROM webhook_messages WHERE message_id LIKE 'msg\\_bench%'
            """).split(separator: " ")
        guard figures.count == 2, let delivered = Int(figures[0]), let last = Double(figures[1]) else {
            throw BenchFailure("the delivered messages' figures are unreadable: \(figures)")
        }
        let received = receiver.state
        let elapsed = Duration.milliseconds(Int64((last - committed) * 1000))
        let span = (received.last ?? 0) - (received.first ?? 0)
        let arrivalRate = span > 0 ? Double(received.requests - 1) / span : 0

        progress("receiver ceiling: wrk posting the same body")
        await server.settle()
        let body = run.settings.workFile("outbound-body.json")
        // One line of JSON, `{` to `}`: psql's unaligned output is the stored bytes.
        let stored = try await run.tools.sql("SELECT body FROM webhook_messages WHERE id = \(templateId)")
        try stored.write(toFile: body, atomically: true, encoding: .utf8)
        guard stored.utf8.count == bytes else { throw BenchFailure("the template read back is \(stored.utf8.count) bytes, stored \(bytes)") }
        let script = run.settings.workFile("outbound-post.lua")
        try postScript(body: body, headers: headers).write(toFile: script, atomically: true, encoding: .utf8)
        receiver.reset()
        let wrk = try await run.tools.wrk(receiver.url, script: script, connections: inFlight)
        // Every request the receiver finished carried the whole body: a script that posted less would raise the ceiling.
        let posted = receiver.state
        guard posted.requests > 0, posted.bytes == posted.requests * bytes else {
            throw BenchFailure("wrk's posts arrived as \(posted.bytes) bytes in \(posted.requests) requests, not \(bytes) bytes each")
        }

        let rate = Quantity.rate(perSecond(delivered, elapsed), "deliveries/s")
        let check = delivered == count && received.requests >= count ? "every message delivered" : "**\(count - delivered) not delivered**"
        return [
            Row(section: .outbound, name: "messages delivered to one endpoint (\(count) pending `contacts.changed` of \(changes) changes, \(bytes) bytes, "
                    + "over \(streams) streams; `OUTBOUND_MAX_IN_FLIGHT=\(inFlight)`)",
                figure: .quantity(rate),
                ceiling: Ceiling(name: "wrk posting the same body and headers to the same receiver, \(inFlight) connections",
                                 quantity: .rate(wrk.requestsPerSecond, "req/s")),
                target: .shareAtLeast(50),
                note: "\(check): from the insert's `COMMIT` to the last recorded `delivered`, \(Int(elapsed / .milliseconds(1))) ms; "
                    + "receiver got \(received.requests) (first to last arrival "
                    + String(format: "%.0f/s", arrivalRate) + "), none retried; server CPU per 1,000 deliveries \(cpu * 1000 / max(1, delivered)) ms; "
                    + "wrk \(wrk.latencies)"),
        ]
    }

    /// Single changes, one at a time: each committed (psql; Postgres's `clock_timestamp()` just before `COMMIT`) while
    /// nothing else is pending, timed to the receiver's arrival of the message carrying it (this machine's clock).
    private static func latency(_ run: BenchRun, server: Spawned, receiver: Receiver, company: String, tag: String) async throws -> [Row] {
        let count = run.settings.outboundSamples
        progress("\(count) changes timed from commit to delivery")
        let contact = try await run.tools.sql("SELECT id FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL ORDER BY id DESC LIMIT 1")
        var samples: [Double] = []
        for index in 0..<count {
            try server.checkAlive()
            try await Task.sleep(for: .milliseconds(Int.random(in: pauseBeforeCommit)))
            let marker = "bench-outbound-\(tag)-\(index)"
            receiver.watch(marker)
            let committed = try await commit(run, contact: contact, title: marker)
            samples.append((try await receiver.arrival(of: marker) - committed) * 1000)
        }
        samples.sort()
        func milliseconds(_ value: Double) -> Quantity { Quantity(value: value, unit: "ms", decimals: 1) }
        let (p50, p99) = (milliseconds(samples[count / 2]), milliseconds(samples[count * 99 / 100]))
        let name = "one change, commit to its message's arrival at the receiver, \(count) samples"
        return [
            Row(section: .outbound, name: name + ": p99", figure: .quantity(p99), target: .described("p50 and p99 reported"),
                note: "p50 \(p50.text), slowest \(milliseconds(samples[count - 1]).text); each change committed \(pauseBeforeCommit.lowerBound)–"
                    + "\(pauseBeforeCommit.upperBound) ms after the last one arrived (psql; the time is Postgres's `clock_timestamp()` just before `COMMIT`), "
                    + "nothing else pending: the dispatcher's wait for it, its message, the delivery loop's claim and the post"),
            Row(section: .outbound, name: name + ": p50", figure: .quantity(p50)),
        ]
    }

    /// `contact`'s title set to `title`, committed; the time just before its `COMMIT` by Postgres's clock (seconds since
    /// 1970), so the latency measured errs long by the commit itself, never short.
    static func commit(_ run: BenchRun, contact: String, title: String) async throws -> Double {
        let text = try await run.tools.sql(
            "BEGIN", "UPDATE contacts SET title = '\(title)' WHERE id = '\(contact)'", "SELECT extract(epoch FROM clock_timestamp())", "COMMIT")
        guard let seconds = Double(text) else { throw BenchFailure("the change's commit printed \(text), not a time") }
        return seconds
    }

    /// wrk's script: POST of the body in `body` with `headers`, as the server sends each delivery.
    static func postScript(body: String, headers: [(name: String, value: String)]) -> String {
        var lines = [
            "local file = assert(io.open([[\(body)]], \"rb\"))",
            "wrk.method = \"POST\"",
            "wrk.body = file:read(\"*a\")",
            "file:close()",
        ]
        for (name, value) in headers { lines.append("wrk.headers[ [[\(name)]] ] = [[\(value)]]") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Registers an endpoint for every type and company at `receiver` through the admin API; returns its id.
    static func subscribe(_ run: BenchRun, server: Spawned, receiver: Receiver) async throws -> String {
        let answer = try await run.http.expectOK(
            server.baseURL + "/api/admin/webhook-endpoints", method: .POST,
            headers: [("X-Admin-Token", run.settings.adminToken), ("content-type", "application/json")],
            body: #"{"url": "\#(receiver.url)", "description": "marketplace-bench receiver"}"#)
        guard let id = try JSONValue.parse(answer.body.readableBytesView)["id"]?.string else {
            throw BenchFailure("the endpoint's creation answered without an id: \(String(buffer: answer.body).prefix(300))")
        }
        return id
    }

    /// Waits until the dispatcher has read past the last change and no message is pending; fails at once when a message
    /// failed or needed a retry (the receiver answers 200 to everything: a retry is a fault to look at), and after `limit`.
    static func waitForDeliveries(_ run: BenchRun, server: Spawned, limit: Duration = .seconds(300)) async throws {
        let deadline = ContinuousClock.now + limit
        try await run.waitUntil(watching: server) {
            let state = try await run.tools.sql("""
                SELECT (SELECT count(*) FROM webhook_messages WHERE status = 'pending') || ' '
                    || (SELECT count(*) FROM webhook_messages WHERE status = 'failed' OR attempts > 1) || ' '
                    || coalesce((SELECT CASE WHEN (d.xid, d.seq) >= (c.xid, c.seq) THEN 1 ELSE 0 END FROM outbound_dispatch d,
                                   (SELECT xid, seq FROM changes ORDER BY xid DESC, seq DESC LIMIT 1) c), 1)
                """).split(separator: " ").compactMap { Int($0) }
            guard state.count == 3 else { throw BenchFailure("the outbound state is unreadable: \(state)") }
            if state[1] > 0 {
                let error = try await run.tools.sql("SELECT coalesce(last_error, '?') FROM webhook_messages WHERE status = 'failed' OR attempts > 1 LIMIT 1")
                throw BenchFailure("\(state[1]) outbound messages failed or were retried; one: \(error)")
            }
            guard ContinuousClock.now < deadline else {
                throw BenchFailure("outbound: \(state[0]) messages still pending, dispatcher caught up: \(state[2] == 1), after \(limit)")
            }
            return state[0] == 0 && state[2] == 1
        }
    }
}
