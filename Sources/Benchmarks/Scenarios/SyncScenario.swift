import Foundation
import NIOHTTP1

/// A connection's records synced from the emulator through the bench's hubspot-contacts pipeline into Postgres
/// (workers, pages, stages, bulk upserts), then ops' two whole-model actions on it (re-derive, full resync).
/// Ceilings from the same run: `COPY` of the rows the sync wrote into an empty copy of the table, the client
/// paging the emulator alone (from ``NangoScenario``), and, as a floor, one `INSERT … ON CONFLICT` per row. The
/// change log's cost: syncs of the same size with its `*_changes_*` triggers disabled and enabled, in pairs run first
/// (`BENCH_CHANGE_LOG`, `BENCH_CHANGE_LOG_PAIRS`). Outbound webhooks' cost: a sync of the same size with one endpoint
/// subscribed (at the bench's ``Receiver``), run next, its messages all delivered before the usual sync starts.
enum SyncScenario {
    /// One sync's figures.
    struct Sync {
        var records: Int
        var fetched = 0, written = 0, quarantined = 0
        /// Rows the sync itself left in `changes` (before its re-derive and resync).
        var changes = 0
        var run: Duration = .zero
        var wall: Duration = .zero
        var cpuMilliseconds = 0
        var rederive: Action?
        var resync: Action?
        var peakMemory = 0
        /// With an endpoint subscribed: what was delivered to it.
        var outbound: Delivered?

        var rate: Quantity { .rate(perSecond(fetched, run), "records/s") }
    }

    /// A sync's messages to its one endpoint: how many, how many requests the receiver got, and when the last one was
    /// recorded delivered after the pipeline run's end.
    struct Delivered {
        var messages: Int
        var received: Int
        var lastAfterRun: Duration
    }

    /// A re-derive or full resync: records read, from its request to the end of its run.
    struct Action {
        var records: Int
        var elapsed: Duration
        var outcome: String

        var rate: Quantity { .rate(perSecond(records, elapsed), "records/s") }
        var note: String { "\(records) records in \(Int(elapsed / .milliseconds(1))) ms, \(outcome)" }
    }

    static func run(_ run: BenchRun, paging: Quantity) async throws -> [Row] {
        let changeLog = run.settings.changeLog
        // Syncs without the log and with it in pairs, alternating which goes first (ABBA…): whatever one sync leaves
        // Postgres to do (a checkpoint, autovacuum) falls on both sides alike, and each side's median is compared.
        var withoutLog: [Sync] = [], withLog: [Sync] = []
        if changeLog {
            for pair in 0..<run.settings.changeLogPairs {
                for logged in pair.isMultiple(of: 2) ? [false, true] : [true, false] {
                    progress("pipeline sync of \(run.settings.syncRecords) records, change-log triggers \(logged ? "enabled" : "disabled") (pair \(pair + 1))")
                    let sync = try await self.sync(run, records: run.settings.syncRecords, changeLog: logged, actions: false)
                    if logged { withLog.append(sync) } else { withoutLog.append(sync) }
                }
            }
        }
        // With an endpoint second: it pays for what the first sync leaves Postgres to do, the usual sync for what it leaves.
        var withEndpoint: Sync?
        if changeLog {
            progress("pipeline sync of \(run.settings.syncRecords) records, one webhook endpoint subscribed")
            let receiver = try await Receiver.start(port: run.settings.basePort + 8)
            do {
                withEndpoint = try await self.sync(run, records: run.settings.syncRecords, changeLog: true, actions: false, receiver: receiver)
                await receiver.stop()
            } catch {
                await receiver.stop()
                throw error
            }
        }
        progress("pipeline sync of \(run.settings.syncRecords) records" + (changeLog ? "" : ", change-log triggers disabled (BENCH_CHANGE_LOG=off)"))
        let sync = try await self.sync(run, records: run.settings.syncRecords, changeLog: changeLog)
        let (copy, copyNote) = try await copyCeiling(run)
        let naive = try await run.tools.pgbench(sql: naiveUpsert, name: "naive-upsert", clients: 1)
        let lower = copy.value < paging.value
            ? Ceiling(name: "`COPY` of the same rows (lower than paging, \(paging.text))", quantity: copy)
            : Ceiling(name: "the emulator's paging alone (lower than `COPY`, \(copy.text))", quantity: paging)
        // The headline is the median of every sync with the change log in this run (the pairs' and this one): one
        // sync moves by several points with whatever checkpoint the one before it left behind.
        let loggedSyncs = changeLog ? withLog + [sync] : [sync]
        let headline = Quantity.rate(median(loggedSyncs) ?? sync.rate.value, "records/s")
        let headlineNote = loggedSyncs.count > 1
            ? "median of the \(loggedSyncs.count) syncs with the change log (\(rates(loggedSyncs)) records/s; the last is this one); "
            : ""
        let perThousand = Double(sync.cpuMilliseconds) * 1000 / Double(max(1, sync.fetched))
        let syncCeiling = Ceiling(name: "the sync", quantity: sync.rate)
        let logOff = changeLog ? "" : ", change log off"
        var rows = [
            Row(section: .sync, name: "sync of \(sync.fetched) records (pipeline run: fetch, stages, upsert, checkpoint)\(logOff)", figure: .quantity(headline),
                ceiling: lower, target: .shareAtLeast(75), note: headlineNote + "\(sync.fetched) fetched / \(sync.written) written / \(sync.quarantined) quarantined"),
            changeLogRow(records: sync.fetched, with: withLog, without: withoutLog, changeLog: changeLog),
        ]
        rows += outboundRows(sync, with: withEndpoint, lower: lower, logged: withLog)
        rows += [
            Row(section: .sync, name: "server CPU (user + system, `/proc`) per 1,000 records synced",
                figure: .quantity(Quantity(value: perThousand, unit: "ms")), target: .below(153),
                note: "\(sync.cpuMilliseconds) ms for \(sync.fetched) records; target: half of 305 ms, the first figure measured (a8bcdae)"),
            Row(section: .sync, name: "sync end to end (auth webhook to last checkpoint)", figure: .quantity(.rate(perSecond(sync.fetched, sync.wall), "records/s")),
                note: "\(Int(sync.wall / .milliseconds(1))) ms"),
            Row(section: .sync, name: "sync against `COPY` of the same rows into the same table", figure: .quantity(headline),
                ceiling: Ceiling(name: "`COPY`", quantity: copy), note: copyNote),
            Row(section: .sync, name: "sync against the client paging the emulator alone (no stages, no Postgres)", figure: .quantity(headline),
                ceiling: Ceiling(name: "paging", quantity: paging)),
            Row(section: .sync, name: "sync against one autocommitted `INSERT … ON CONFLICT` per row (a floor, not a ceiling)", figure: .quantity(headline),
                ceiling: Ceiling(name: "pgbench, 1 connection", quantity: .rate(naive, "rows/s")),
                note: "what writing a row per round trip would reach on this machine"),
        ]
        rows += actionRows(sync, ceiling: syncCeiling, target: true)
        if run.settings.syncLargeRecords > 0 {
            progress("pipeline sync of \(run.settings.syncLargeRecords) records (peak memory)")
            let large = try await self.sync(run, records: run.settings.syncLargeRecords, changeLog: changeLog)
            rows.append(Row(section: .sync, name: "sync of \(large.fetched) records\(logOff)", figure: .quantity(large.rate), ceiling: lower,
                            note: "\(large.fetched) fetched / \(large.written) written / \(large.quarantined) quarantined"))
            rows += actionRows(large, ceiling: Ceiling(name: "the sync", quantity: large.rate), target: false)
            rows.append(memoryRow(large, target: true))
            rows.append(memoryRow(sync, target: false))
        } else {
            rows.append(memoryRow(sync, target: true))
        }
        return rows
    }

    /// The syncs with the change log against the same syncs without it, median against median (no row figures when
    /// `BENCH_CHANGE_LOG=off`).
    private static func changeLogRow(records: Int, with: [Sync], without: [Sync], changeLog: Bool) -> Row {
        let name = "sync of \(records) records with the change log (a `changes` row per visible write, in the writer's transaction)"
        guard let withMedian = median(with), let withoutMedian = median(without) else {
            return Row(section: .sync, name: name, figure: .text(with.isEmpty && without.isEmpty && changeLog
                ? "not measured: BENCH_CHANGE_LOG_PAIRS=0, no syncs without the change log to compare with"
                : "not measured: BENCH_CHANGE_LOG=off, every sync of this run ran without the change log"))
        }
        func perThousand(_ syncs: [Sync]) -> Int {
            syncs.map(\.cpuMilliseconds).reduce(0, +) * 1000 / max(1, syncs.map(\.fetched).reduce(0, +))
        }
        return Row(section: .sync, name: name, figure: .quantity(.rate(withMedian, "records/s")),
                   ceiling: Ceiling(name: "the same sync, `*_changes_*` triggers disabled", quantity: .rate(withoutMedian, "records/s")),
                   target: .shareAtLeast(95),
                   note: "medians of \(with.count) syncs each, in pairs alternating which goes first (`BENCH_CHANGE_LOG_PAIRS`): with \(rates(with)), "
                       + "without \(rates(without)) records/s; \(with.last?.changes ?? 0) changes written by one sync with, \(without.last?.changes ?? 0) without; "
                       + "server CPU per 1,000 records \(perThousand(with)) ms with, \(perThousand(without)) ms without (the triggers' work is Postgres's)")
    }

    /// Each sync's records/s, rounded, in run order: a note's list beside a median.
    static func rates(_ syncs: [Sync]) -> String { syncs.map { String(Int($0.rate.value.rounded())) }.joined(separator: ", ") }

    /// The median records/s of some syncs (the mean of the middle two for an even count); nil for none.
    static func median(_ syncs: [Sync]) -> Double? {
        let rates = syncs.map(\.rate.value).sorted()
        guard !rates.isEmpty else { return nil }
        let middle = rates.count / 2
        return rates.count.isMultiple(of: 2) ? (rates[middle - 1] + rates[middle]) / 2 : rates[middle]
    }

    /// The sync with one endpoint subscribed against the lower ceiling (issue 31: ≥ 85%) and against the usual sync, which
    /// has none (nil when `BENCH_CHANGE_LOG=off`: no changes, no messages).
    private static func outboundRows(_ sync: Sync, with: Sync?, lower: Ceiling, logged: [Sync]) -> [Row] {
        let name = "sync of \(sync.fetched) records with one webhook endpoint subscribed (its messages made and delivered to a local receiver meanwhile)"
        guard let with, let delivered = with.outbound else {
            return [Row(section: .sync, name: name, figure: .text("not measured: BENCH_CHANGE_LOG=off, a sync without the change log makes no messages"))]
        }
        func perThousand(_ sync: Sync) -> Int { sync.cpuMilliseconds * 1000 / max(1, sync.fetched) }
        // The logged syncs of the pairs above are this one's twin without the endpoint (no re-derive or resync after);
        // the usual sync stands in when there are none.
        let twin = median(logged).map { Quantity.rate($0, "records/s") } ?? sync.rate
        let twinNote = logged.isEmpty ? "the usual sync, run after it" : "the median of the \(logged.count) syncs with the change log above"
        let share = String(format: "%.0f%%", with.rate.value / max(1, twin.value) * 100)
        return [
            Row(section: .sync, name: name, figure: .quantity(with.rate), ceiling: lower, target: .shareAtLeast(85),
                note: "\(share) of the same sync with no endpoint (\(twin.text)); \(with.fetched) fetched / \(with.written) written / "
                    + "\(with.changes) changes; \(delivered.messages) messages, \(delivered.received) requests received, the last delivered "
                    + "\(Int(delivered.lastAfterRun / .milliseconds(1))) ms after the run's end; server CPU per 1,000 records \(perThousand(with)) ms with, "
                    + "\(perThousand(sync)) ms in the usual sync"),
            Row(section: .sync, name: "the same against the same sync with no endpoint", figure: .quantity(with.rate),
                ceiling: Ceiling(name: "the same sync, no endpoint", quantity: twin),
                note: "no endpoint: \(twinNote); one company's contacts are one stream: its messages go out one at a time, in order"),
        ]
    }

    private static func actionRows(_ sync: Sync, ceiling: Ceiling, target: Bool) -> [Row] {
        var rows: [Row] = []
        if let rederive = sync.rederive {
            rows.append(Row(section: .sync, name: "re-derive of \(sync.records) records (rows rebuilt from the raw records held, no Nango call)",
                            figure: .quantity(rederive.rate), ceiling: ceiling, target: target ? .described("records/s beside the sync's") : nil, note: rederive.note))
        }
        if let resync = sync.resync {
            rows.append(Row(section: .sync, name: "full resync of \(sync.records) records (the whole stream re-read)",
                            figure: .quantity(resync.rate), ceiling: ceiling, target: target ? .described("records/s beside the sync's") : nil, note: resync.note))
        }
        return rows
    }

    private static func memoryRow(_ sync: Sync, target: Bool) -> Row {
        Row(section: .sync, name: "server peak RSS, \(sync.records)-record sync, its re-derive and full resync",
            figure: .quantity(.mebibytes(sync.peakMemory)), target: target ? .below(100) : nil, note: "flat: a sync holds one page at a time")
    }

    /// A fresh company synced from a fresh emulator: the auth webhook, the first syncs, the pipeline run's figures; then
    /// ops' re-derive and full resync unless `actions` is false. `changeLog: false` disables the change log's triggers
    /// for all of it. With a `receiver`, one endpoint at it is subscribed before the sync starts, and every message is
    /// delivered before the server stops.
    static func sync(_ run: BenchRun, records: Int, changeLog: Bool, actions: Bool = true, receiver: Receiver? = nil) async throws -> Sync {
        // `changes` too: every sync starts with the same empty tables, whatever the one before it wrote.
        try await run.tools.sql("TRUNCATE companies, webhook_events, jobs, sync_state, pipeline_runs, quarantine, scheduled_tasks, changes CASCADE")
        guard !changeLog else { return try await measuredSync(run, records: records, actions: actions, receiver: receiver) }
        try await setChangeLogTriggers(run, enabled: false)
        do {
            let sync = try await measuredSync(run, records: records, actions: actions)
            try await setChangeLogTriggers(run, enabled: true)
            return sync
        } catch {
            try? await setChangeLogTriggers(run, enabled: true)
            throw error
        }
    }

    /// Enables or disables the change log's statement triggers (`*_changes_*` on companies, locations, contacts and
    /// products; migration 0022) on the bench's scratch database, and checks every one of them changed: a renamed
    /// trigger would otherwise leave the comparison measuring the change log against itself. The row triggers that
    /// carry `change_xid` stay: they are the column's bookkeeping, and a first sync inserts.
    static func setChangeLogTriggers(_ run: BenchRun, enabled: Bool) async throws {
        let triggers = #"""
            FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE '%\_changes\_%'
              AND tgrelid IN ('companies'::regclass, 'locations'::regclass, 'contacts'::regclass, 'products'::regclass)
            """#
        let answer = try await run.tools.sql(
            // Between syncs nothing holds these tables; a lock that does not come soon is a bench fault, said at once.
            "SET lock_timeout = '10s'",
            """
            DO $$ DECLARE t record; BEGIN
              FOR t IN SELECT tgrelid::regclass AS tab, tgname \(triggers) LOOP
                EXECUTE format('ALTER TABLE %s \(enabled ? "ENABLE" : "DISABLE") TRIGGER %I', t.tab, t.tgname);
              END LOOP;
            END $$
            """,
            "SELECT count(*) FILTER (WHERE tgenabled \(enabled ? "<>" : "=") 'D') || ' ' || count(*) \(triggers)")
        let counts = answer.split(separator: " ").compactMap { Int($0) }
        guard counts.count == 2, counts[1] > 0, counts[0] == counts[1] else {
            throw BenchFailure("the change log's `*_changes_*` triggers could not be \(enabled ? "enabled" : "disabled"): \(answer) (changed / found)")
        }
    }

    private static func measuredSync(_ run: BenchRun, records: Int, actions: Bool, receiver: Receiver? = nil) async throws -> Sync {
        let (serverPort, emulatorPort) = (run.settings.basePort + 2, run.settings.basePort + 3)
        let emulator = try await run.startEmulator(port: emulatorPort, [
            "--records", "\(records)", "--webhook-url", "http://127.0.0.1:\(serverPort)/webhooks/nango",
        ])
        let server = try await run.startServer(port: serverPort, [
            "NANGO_BASE_URL": emulator.baseURL, "NANGO_SECRET_KEY": run.settings.nangoSecretKey,
            "NANGO_WEBHOOK_SECRET": run.settings.emulatorWebhookKey, "PIPELINES_FILE": "bench/pipelines-sync.yaml",
            "WORKER_COUNT": "2", "ADMIN_TOKEN": run.settings.adminToken,
        ])
        var sync = Sync(records: records)
        if let receiver { _ = try await OutboundScenario.subscribe(run, server: server, receiver: receiver) }
        let started = ContinuousClock.now
        let cpuAtStart = server.cpuMilliseconds
        _ = try await run.http.expectOK(
            emulator.baseURL + "/_emulator/connections", method: .POST, headers: [("content-type", "application/json")],
            body: #"{"provider_config_key": "hubspot", "connection_id": "bench"}"#)
        try await run.waitUntil(watching: server) {
            try await run.tools.sqlInt("SELECT count(*) FROM sync_state WHERE last_success_at IS NOT NULL") == 1
        }
        sync.wall = ContinuousClock.now - started
        sync.cpuMilliseconds = server.cpuMilliseconds - cpuAtStart
        let figures = try await run.tools.sql("SELECT fetched || ' ' || upserted || ' ' || quarantined || ' ' || duration_ms FROM pipeline_runs ORDER BY id DESC LIMIT 1")
            .split(separator: " ").compactMap { Int($0) }
        guard figures.count == 4 else { throw BenchFailure("the sync left no pipeline run") }
        (sync.fetched, sync.written, sync.quarantined, sync.run) = (figures[0], figures[1], figures[2], .milliseconds(figures[3]))
        sync.changes = try await run.tools.sqlInt("SELECT count(*) FROM changes")
        if let receiver {
            try await OutboundScenario.waitForDeliveries(run, server: server)
            let figures = try await run.tools.sql("""
                SELECT count(*) || ' ' || round(coalesce(extract(epoch FROM max(delivered_at)
                    - (SELECT finished_at FROM pipeline_runs ORDER BY id DESC LIMIT 1)), 0) * 1000)
                FROM webhook_messages
                """).split(separator: " ").compactMap { Int($0) }
            guard figures.count == 2 else { throw BenchFailure("the sync's messages left no readable figures") }
            sync.outbound = Delivered(messages: figures[0], received: receiver.state.requests, lastAfterRun: .milliseconds(figures[1]))
        }
        if actions {
            sync.rederive = try await action(run, server: server, "rederive")
            sync.resync = try await action(run, server: server, "full-resync")
        }
        sync.peakMemory = server.memory()
        await server.stop()
        await emulator.stop()
        return sync
    }

    /// Queues an admin action on hubspot-contacts and waits for its run to end.
    static func action(_ run: BenchRun, server: Spawned, _ name: String) async throws -> Action {
        let before = try await run.tools.sqlInt("SELECT coalesce(max(id), 0) FROM pipeline_runs")
        let started = ContinuousClock.now
        _ = try await run.http.expectOK(
            server.baseURL + "/api/admin/pipelines/hubspot-contacts/\(name)", method: .POST, headers: [("X-Admin-Token", run.settings.adminToken)])
        try await run.waitUntil(watching: server) {
            try await run.tools.sqlInt("SELECT count(*) FROM pipeline_runs WHERE id > \(before) AND outcome <> 'running'") >= 1
        }
        let elapsed = ContinuousClock.now - started
        let answer = try await run.tools.sql(
            "SELECT GREATEST(fetched, upserted + unchanged + quarantined) || ' ' || outcome FROM pipeline_runs WHERE id > \(before) ORDER BY id LIMIT 1")
        let parts = answer.split(separator: " ")
        guard parts.count == 2, let records = Int(parts[0]) else { throw BenchFailure("\(name) left no readable run: \(answer)") }
        return Action(records: records, elapsed: elapsed, outcome: String(parts[1]))
    }

    /// `COPY` of the rows the sync wrote into an empty copy of `contacts` (same indexes), through psql.
    static func copyCeiling(_ run: BenchRun) async throws -> (Quantity, String) {
        progress("COPY and per-row INSERT ceilings")
        let csv = run.settings.workFile("contacts.csv")
        try await run.tools.sql(
            "DROP TABLE IF EXISTS contacts_copy, contacts_naive",
            "CREATE TABLE contacts_copy (LIKE contacts INCLUDING ALL)",
            "CREATE TABLE contacts_naive (LIKE contacts INCLUDING ALL)",
            "\\copy (SELECT * FROM contacts) TO '\(csv)' WITH (FORMAT csv)")
        let started = ContinuousClock.now
        try await run.tools.sql("\\copy contacts_copy FROM '\(csv)' WITH (FORMAT csv)")
        let elapsed = ContinuousClock.now - started
        let rows = try await run.tools.sqlInt("SELECT count(*) FROM contacts_copy")
        return (.rate(perSecond(rows, elapsed), "rows/s"), "\(rows) rows in \(Int(elapsed / .milliseconds(1))) ms (psql process start included)")
    }

    static let naiveUpsert = """
        INSERT INTO contacts_naive (company_id, external_id, display_name, first_name, last_name, organization, title, email, phone, is_active,
          source_updated_at, content_hash, raw)
        VALUES ('00000000-0000-0000-0000-000000000001', md5(random()::text), 'Ana Silva', 'Ana', 'Silva', 'Maple Ltd', 'CFO', 'ana.silva@maple.example',
          '+14155550199', true, now(), md5(random()::text), '{"id": "1", "firstName": "Ana", "lastName": "Silva", "email": "ana.silva@maple.example"}')
        ON CONFLICT (company_id, external_id) DO UPDATE SET display_name = EXCLUDED.display_name, email = EXCLUDED.email, raw = EXCLUDED.raw,
          content_hash = EXCLUDED.content_hash, updated_at = now();

        """
}
