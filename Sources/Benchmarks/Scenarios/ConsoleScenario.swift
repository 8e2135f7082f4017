import NIOHTTP1
/// Console pages on a 100,000-event inbox (topped up with stored sync webhooks when the runs before left fewer):
/// each page 20 times by one client signed in as admin. The deep events page starts 99,950 events down.
enum ConsoleScenario {
    static func run(_ run: BenchRun) async throws -> [Row] {
        progress("console pages")
        try await run.tools.sql("""
            INSERT INTO webhook_events (type, operation, success, connection_id, integration_id, model, dedupe_key, raw_body, status, received_at)
            SELECT 'sync', 'INCREMENTAL', true, 'bench-' || (g % 64), 'hubspot', 'Contact', 'bench-console-' || g,
                   '{"type":"sync","connectionId":"bench-' || (g % 64) || '","n":' || g || '}', 'processed', now() - make_interval(secs => g)
            FROM generate_series(1, GREATEST(0, 100000 - (SELECT count(*) FROM webhook_events))) g
            """)
        let events = try await run.tools.sqlInt("SELECT count(*) FROM webhook_events")
        let deepCursor = try await run.tools.sql("""
            SELECT (extract(epoch FROM received_at) * 1000000)::bigint || '_' || id FROM webhook_events
            ORDER BY received_at DESC, id DESC OFFSET 99950 LIMIT 1
            """)
        let server = try await run.startServer(port: run.settings.basePort + 5, [
            "ADMIN_TOKEN": run.settings.adminToken, "NANGO_BASE_URL": "http://127.0.0.1:9", "WORKER_COUNT": "0",
        ])
        let signIn = try await run.http.send(
            server.baseURL + "/console/sign-in", method: .POST, headers: [("content-type", "application/x-www-form-urlencoded")],
            body: "token=" + run.settings.adminToken)
        let cookies = signIn.headers["set-cookie"].compactMap { $0.split(separator: ";").first.map(String.init) }
        guard !cookies.isEmpty else { throw BenchFailure("console sign-in answered \(signIn.status) without a session cookie") }
        let cookie = ("Cookie", cookies.joined(separator: "; "))

        var rows: [Row] = []
        for (label, path) in [
            ("overview", "/console"), ("events, first page", "/console/events"), ("events, 99,950 down", "/console/events?before=\(deepCursor)"),
            ("events of one connection", "/console/events?integration_id=hubspot&connection_id=bench-7"),
            ("failed events (none)", "/console/events?status=failed"), ("jobs", "/console/jobs"), ("companies", "/console/companies"),
            ("quarantine", "/console/quarantine"), ("pipelines", "/console/pipelines"), ("tokens", "/console/tokens"),
        ] {
            var times: [Duration] = []
            for _ in 0..<20 { times.append(try await run.http.expectOK(server.baseURL + path, headers: [cookie]).elapsed) }
            times.sort()
            rows.append(Row(section: .console, name: "\(label) (`\(path)`), \(events) events", figure: .quantity(.milliseconds(times[(times.count - 1) / 2])),
                            target: nil, note: "p50 of 20; slowest \(Quantity.milliseconds(times.last!).text)"))
        }
        await server.stop()
        return rows
    }
}
