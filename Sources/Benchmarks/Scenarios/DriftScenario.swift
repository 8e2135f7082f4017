import Foundation
import MarketplaceCore
import NIOCore
import NIOHTTP1

/// The drift check (docs/drift.md) of every (company, model) against the emulator: 1,000 HubSpot connections whose three
/// models (contacts, companies as locations, products; the shipped `pipelines.yaml`) a server with workers has synced and
/// checked once already, then ops' `POST /api/admin/drift/check` for every company, timed until each pair's check is
/// recorded in `sync_state`. Reported, no target (issue 31): checks a second, the server's CPU per check, and the
/// emulator's `GET /sync/status` calls, one a check. A clean set-up must agree everywhere: any other verdict is shown as is.
enum DriftScenario {
    /// Connections (companies) the emulator holds; each has the three HubSpot models.
    static let companies = 1_000
    /// Records per model and connection: small, since the check compares counts and reads no records.
    static let recordsPerModel = 15
    /// The emulator's Nango calls are counted with its fixed-window rate limiter (`X-RateLimit-Remaining`), set to one
    /// window an hour with a limit nothing reaches.
    static let countingLimit = 10_000_000
    static let countingWindowSeconds = 3_600

    static func run(_ run: BenchRun) async throws -> [Row] {
        progress("drift check: set-up, \(companies) HubSpot connections × 3 models synced")
        // Empty tables, whatever the scenarios before left; no webhook endpoint (the outbound scenario's receiver is gone).
        try await run.tools.sql("""
            TRUNCATE companies, webhook_events, jobs, sync_state, pipeline_runs, quarantine, scheduled_tasks, changes, sync_drift,
              full_resyncs, full_resync_seen, pruned_records, webhook_endpoints, webhook_messages, outbound_events CASCADE
            """)
        let (serverPort, emulatorPort) = (run.settings.basePort + 2, run.settings.basePort + 3)
        let emulator = try await run.startEmulator(port: emulatorPort, [
            "--records", "\(recordsPerModel)", "--webhook-url", "http://127.0.0.1:\(serverPort)/webhooks/nango",
        ])
        let server: Spawned
        do {
            server = try await run.startServer(port: serverPort, [
                "NANGO_BASE_URL": emulator.baseURL, "NANGO_SECRET_KEY": run.settings.nangoSecretKey,
                "NANGO_WEBHOOK_SECRET": run.settings.emulatorWebhookKey, "PIPELINES_FILE": "pipelines.yaml",
                "WORKER_COUNT": "2", "ADMIN_TOKEN": run.settings.adminToken,
            ])
        } catch {
            await emulator.stop()
            throw error
        }
        do {
            let rows = try await measure(run, server: server, emulator: emulator)
            await server.stop()
            await emulator.stop()
            return rows
        } catch {
            await server.stop()
            await emulator.stop()
            throw error
        }
    }

    private static func measure(_ run: BenchRun, server: Spawned, emulator: Spawned) async throws -> [Row] {
        let setUp = ContinuousClock.now
        // Eight at a time (the bench client's connections): each sends the auth webhook that makes the company and
        // queues its syncs; each complete first read queues a check of its model.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<8 {
                group.addTask {
                    for index in stride(from: lane, to: companies, by: 8) {
                        _ = try await run.http.expectOK(
                            emulator.baseURL + "/_emulator/connections", method: .POST, headers: [("content-type", "application/json")],
                            body: #"{"provider_config_key": "hubspot", "connection_id": "drift-\#(index)"}"#)
                    }
                }
            }
            try await group.waitForAll()
        }
        let pairs = try await waitForSetUp(run, server: server)
        let setUpTime = ContinuousClock.now - setUp
        let setUpVerdicts = try await verdicts(run, since: nil)

        progress("drift check of \(pairs) (company, model) pairs, timed")
        await server.settle()
        _ = try await run.http.expectOK(
            emulator.baseURL + "/_emulator/rate-limit", method: .PUT, headers: [("content-type", "application/json")],
            body: #"{"limit": \#(countingLimit), "window_seconds": \#(countingWindowSeconds)}"#)
        let windowBefore = try await nangoWindow(run, emulator: emulator)
        let recordsBefore = try await recordsRequests(run, emulator: emulator)
        let (cpuAtStart, emulatorCpuAtStart) = (server.cpuMilliseconds, emulator.cpuMilliseconds)
        // Postgres's clock just before the request: each check records `drift_checked_at` (its transaction's start) after it.
        let since = try await run.tools.sql("SELECT clock_timestamp()")
        let started = ContinuousClock.now
        let answer = try await run.http.expectOK(
            server.baseURL + "/api/admin/drift/check", method: .POST, headers: [("X-Admin-Token", run.settings.adminToken)])
        guard case .array(let jobIds)? = try JSONValue.parse(answer.body.readableBytesView)["job_ids"] else {
            throw BenchFailure("POST /api/admin/drift/check answered without job_ids: \(String(buffer: answer.body).prefix(300))")
        }
        let accepted = ContinuousClock.now - started
        // Every pair's check recorded and every check job ended; polled four times a second (psql is a process each time).
        var (done, progressAt, lastDone) = (0, ContinuousClock.now, 0)
        while true {
            try server.checkAlive()
            let figures = try await run.tools.sql("""
                SELECT (SELECT count(*) FROM sync_state WHERE drift_checked_at >= '\(since)') || ' ' ||
                       (SELECT count(*) FROM jobs WHERE kind = 'drift.check' AND status IN ('queued', 'running', 'failed'))
                """).split(separator: " ").compactMap { Int($0) }
            guard figures.count == 2 else { throw BenchFailure("the drift check's progress is unreadable: \(figures)") }
            done = figures[0]
            if done >= pairs, figures[1] == 0 { break }
            if done > lastDone { (lastDone, progressAt) = (done, .now) }
            guard ContinuousClock.now - progressAt < .seconds(60) else {
                throw BenchFailure("\(done) of \(pairs) drift checks recorded, none in the last 60 s:\n\(server.logTail())")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        let wall = ContinuousClock.now - started
        let cpu = server.cpuMilliseconds - cpuAtStart
        let emulatorCpu = emulator.cpuMilliseconds - emulatorCpuAtStart
        let windowAfter = try await nangoWindow(run, emulator: emulator)
        let recordsDuring = try await recordsRequests(run, emulator: emulator) - recordsBefore
        // From just before the request to the last check job's end, both by Postgres's clock.
        let spanText = try await run.tools.sql("""
            SELECT extract(epoch FROM max(finished_at) - '\(since)'::timestamptz) FROM jobs WHERE kind = 'drift.check' AND created_at >= '\(since)'
            """)
        guard let span = Double(spanText), span > 0 else { throw BenchFailure("the drift check jobs' span is unreadable: \(spanText)") }
        let checked = try await verdicts(run, since: since)

        // The window's count: the bench's two reads of it, and every call the server made in between. A window that
        // rolled over (it is aligned to the hour) lost the calls before its end: not counted then.
        let nangoCalls: String
        if windowAfter.reset == windowBefore.reset {
            let calls = windowBefore.remaining - windowAfter.remaining - 1
            nangoCalls = "\(calls) Nango calls answered by the emulator (\(String(format: "%.2f", Double(calls) / Double(max(1, pairs)))) a check; "
                + "its rate-limit window's count), \(recordsDuring) of them `GET /records`"
        } else {
            nangoCalls = "the emulator's Nango calls not counted (its hourly rate-limit window rolled over during the check); "
                + "\(recordsDuring) `GET /records`"
        }
        let perCheck = Double(cpu) / Double(max(1, pairs))
        let name = "drift check of \(companies) companies × 3 models (\(pairs) pairs) against the emulator, `POST /api/admin/drift/check`"
        return [
            Row(section: .drift, name: name, figure: .quantity(.rate(Double(pairs) / span, "checks/s")),
                target: .described("reported, with the server's CPU per check"),
                note: String(format: "%.2f s from just before the request to the last check's end (Postgres's clock); ", span)
                    + "\(Int(wall / .milliseconds(1))) ms until the bench saw every check recorded (polled every 250 ms); the 202 with \(jobIds.count) job ids "
                    + "took \(Int(accepted / .milliseconds(1))) ms; WORKER_COUNT=2 (the default); \(nangoCalls)"),
            Row(section: .drift, name: "server CPU (user + system, `/proc`) per drift check", figure: .quantity(Quantity(value: perCheck, unit: "ms", decimals: 2)),
                target: .described("reported"),
                note: "\(cpu) ms for \(pairs) checks; the emulator's \(emulatorCpu) ms (\(String(format: "%.2f", Double(emulatorCpu) / Double(max(1, pairs)))) ms a check)"),
            Row(section: .drift, name: "drift check verdicts, \(pairs) pairs synced from a clean emulator", figure: .text(checked.summary(of: pairs)),
                note: "each (company, model) has \(recordsPerModel) records at Nango and one finished sync; the set-up (\(companies) connections made, "
                    + "synced and checked once after each first read: \(setUpVerdicts.summary(of: pairs))) took \(Int(setUpTime / .seconds(1))) s, not timed"),
        ]
    }

    /// Waits until every connection's three models are synced, each pair checked once (after its first read), and no job
    /// is left; the pairs' count.
    private static func waitForSetUp(_ run: BenchRun, server: Spawned) async throws -> Int {
        let pairs = 3 * companies
        var (lastDone, progressAt, reportedAt) = (-1, ContinuousClock.now, ContinuousClock.now)
        while true {
            try server.checkAlive()
            let figures = try await run.tools.sql("""
                SELECT (SELECT count(*) FROM sync_state WHERE last_success_at IS NOT NULL AND drift_checked_at IS NOT NULL) || ' ' ||
                       (SELECT count(*) FROM jobs WHERE status IN ('queued', 'running', 'failed')) || ' ' ||
                       (SELECT count(*) FROM jobs WHERE status = 'dead') || ' ' || (SELECT count(*) FROM sync_state)
                """).split(separator: " ").compactMap { Int($0) }
            guard figures.count == 4 else { throw BenchFailure("the drift set-up's progress is unreadable: \(figures)") }
            let (done, pending, dead, rows) = (figures[0], figures[1], figures[2], figures[3])
            guard dead == 0 else {
                let errors = try await run.tools.sql("SELECT kind || ': ' || coalesce(last_error, '?') FROM jobs WHERE status = 'dead' LIMIT 3")
                throw BenchFailure("\(dead) jobs of the drift set-up died:\n\(errors)")
            }
            guard rows <= pairs else { throw BenchFailure("\(rows) sync states for \(pairs) pairs: the pipelines read more models than expected") }
            if done == pairs, pending == 0 { return pairs }
            if done > lastDone { (lastDone, progressAt) = (done, .now) }
            guard ContinuousClock.now - progressAt < .seconds(120) else {
                throw BenchFailure("drift set-up: \(done) of \(pairs) pairs synced and checked, none in the last 120 s:\n\(server.logTail())")
            }
            if ContinuousClock.now - reportedAt > .seconds(15) {
                progress("drift set-up: \(done) of \(pairs) pairs synced and checked, \(pending) jobs waiting")
                reportedAt = .now
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// The recorded results of the checks since `since` (all when nil), by their verdict (the summary's first words).
    struct Verdicts {
        var counts: [String: Int]
        var examples: [String]

        func summary(of pairs: Int) -> String {
            let agreed = counts["agreed", default: 0]
            let total = counts.values.reduce(0, +)
            if agreed == pairs, total == pairs { return "all \(pairs) agreed" }
            let others = counts.filter { $0.key != "agreed" }.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            return "**\(agreed) of \(pairs) agreed; \(others.isEmpty ? "\(total) recorded" : others)** (e.g. \(examples.joined(separator: "; ")))"
        }
    }

    private static func verdicts(_ run: BenchRun, since: String?) async throws -> Verdicts {
        let filter = since.map { "drift_checked_at >= '\($0)'" } ?? "drift_checked_at IS NOT NULL"
        var counts: [String: Int] = [:]
        for line in try await run.tools.sql("""
            SELECT verdict || '|' || count(*) FROM (SELECT split_part(drift_check_result, ':', 1) AS verdict FROM sync_state WHERE \(filter)) checks
            GROUP BY verdict
            """).split(separator: "\n") {
            let parts = line.split(separator: "|")
            if parts.count == 2, let count = Int(parts[1]) { counts[String(parts[0])] = count }
        }
        let examples = try await run.tools.sql("""
            SELECT connection_id || ' ' || model || ': ' || drift_check_result FROM sync_state
            WHERE \(filter) AND drift_check_result NOT LIKE 'agreed%' ORDER BY connection_id, model LIMIT 3
            """).split(separator: "\n").map(String.init)
        return Verdicts(counts: counts, examples: examples)
    }

    /// The emulator's rate-limit window as one Nango call of the bench sees it: what remains, and when it ends.
    private static func nangoWindow(_ run: BenchRun, emulator: Spawned) async throws -> (remaining: Int, reset: Int) {
        let answer = try await run.http.expectOK(
            emulator.baseURL + "/sync/status?provider_config_key=hubspot&syncs=*&connection_id=drift-0",
            headers: [("Authorization", "Bearer " + run.settings.nangoSecretKey)])
        guard let remaining = answer.headers["X-RateLimit-Remaining"].first.flatMap({ Int($0) }),
              let reset = answer.headers["X-RateLimit-Reset"].first.flatMap({ Int($0) }) else {
            throw BenchFailure("the emulator's answer has no X-RateLimit-Remaining or X-RateLimit-Reset: \(answer.headers)")
        }
        return (remaining, reset)
    }

    /// `GET /records` calls the emulator has answered (its control API's count).
    private static func recordsRequests(_ run: BenchRun, emulator: Spawned) async throws -> Int {
        let state = try await run.http.expectOK(emulator.baseURL + "/_emulator/state")
        guard case .number(let count)? = try JSONValue.parse(state.body.readableBytesView)["records_requests"] else {
            throw BenchFailure("the emulator's state has no records_requests")
        }
        return Int(count)
    }
}
