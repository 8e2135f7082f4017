import Foundation
import Nango

/// Signed, distinct sync webhooks posted by wrk (`bench/webhooks.lua`), every "stored" answer checked against
/// the inbox afterwards: spread over 500 connections with the workers on and with `WORKER_COUNT=0` (ingest alone),
/// and all for one connection with the workers on (every event joins the one waiting sync job of its key). The
/// ceiling: pgbench's single-row INSERT of a webhook-sized row, one transaction each, in the same run.
enum WebhookScenario {
    static func run(_ run: BenchRun, server: Spawned, health: Ceiling) async throws -> [Row] {
        let file = run.settings.workFile("webhooks.txt")
        try writeWebhooks(count: run.settings.webhookCount, connections: 500, key: run.settings.webhookSecret, to: file)
        let oneKeyFile = run.settings.workFile("webhooks-one-key.txt")
        try writeWebhooks(count: run.settings.webhookCount, connections: 1, key: run.settings.webhookSecret, to: oneKeyFile)

        try await run.tools.sql("CREATE TABLE IF NOT EXISTS bench_inserts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, k text UNIQUE, body text)")
        let insert = try await run.tools.pgbench(
            sql: "INSERT INTO bench_inserts (k, body) VALUES (md5(random()::text || clock_timestamp()::text), repeat('x', 400));\n",
            name: "insert", clients: 20)
        let ceiling = Ceiling(name: "pgbench single-row INSERT, 20 connections", quantity: .rate(insert, "tps"))

        var rows = try await load(run, server: server, file: file, label: "workers on (each stored webhook queues or joins its key's sync job)", ceiling: ceiling, health: health)
        rows += try await load(run, server: server, file: oneKeyFile, label: "workers on, every webhook for one connection and model (each joins the one waiting sync job)", ceiling: ceiling, health: health)
        let ingest = try await run.startServer(port: run.settings.basePort + 6, ["WORKER_COUNT": "0"])
        rows = try await load(run, server: ingest, file: file, label: "ingest alone (`WORKER_COUNT=0`)", ceiling: ceiling, health: health) + rows
        await ingest.stop()
        return rows
    }

    private static func load(_ run: BenchRun, server: Spawned, file: String, label: String, ceiling: Ceiling, health: Ceiling) async throws -> [Row] {
        try await run.tools.sql("TRUNCATE webhook_events, jobs CASCADE")
        let wrk = try await run.tools.wrk(server.baseURL, script: "bench/webhooks.lua", scriptArguments: [file, "2"])
        guard let stored = wrk.counters["webhooks_stored_answers"], let other = wrk.counters["webhooks_other_answers"] else {
            throw BenchFailure("bench/webhooks.lua printed no answer counts")
        }
        let events = try await run.tools.sqlInt("SELECT count(*) FROM webhook_events")
        let jobs = try await run.tools.sqlInt("SELECT count(*) FROM jobs")
        let rate = Quantity.rate(wrk.requestsPerSecond, "webhooks/s")
        let share = health.quantity.value > 0 ? String(format: "%.0f%%", rate.value / health.quantity.value * 100) : "—"
        // Rows may exceed answers by the requests in flight when wrk stopped reading; never the other way.
        let check = events >= stored
            ? "every stored answer is a row; \(events - stored) committed while wrk stopped reading"
            : "**LOST: fewer rows than stored answers**"
        return [
            Row(section: .webhooks, name: "webhooks stored, \(label)", figure: .quantity(rate), ceiling: ceiling, target: .shareAtLeast(100),
                note: "p50 \(wrk.p50), p99 \(wrk.p99); \(share) of `GET /health`"),
            Row(section: .webhooks, name: "\(label): answers 200 \"stored\" / other; rows in the inbox / jobs",
                figure: .text("\(stored) / \(other); \(events) / \(jobs)"), note: check),
        ]
    }

    /// `count` distinct, signed sync webhooks as `hmac<TAB>body` lines for the wrk script to post, spread over
    /// `connections` connections.
    static func writeWebhooks(count: Int, connections: Int, key: String, to path: String) throws {
        var text = ""
        text.reserveCapacity(count * 420)
        for index in 0..<count {
            let body = #"{"connectionId":"bench-\#(index % connections)","from":"nango","model":"Customer","modifiedAfter":"2026-05-01T10:00:00.000Z","providerConfigKey":"quickbooks","queryTimeStamp":"2026-05-01T10:00:00.000Z","responseResults":{"added":\#(index),"deleted":0,"updated":1},"success":true,"syncName":"customers","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}"#
            text += NangoWebhookSignature.hmac(body: Array(body.utf8), key: key) + "\t" + body + "\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
