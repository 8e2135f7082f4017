import Foundation

/// `marketplace-bench`: the whole of `make bench`. `scripts/bench.sh` builds the release executables and starts
/// Postgres and Redis; this runs each scenario (one file each under `Scenarios/`, each measuring its ceilings in
/// the same run) against servers of its own on a scratch database, and writes every figure from one table of rows
/// to `bench/results/latest.md`.
@main
enum BenchmarkMain {
    static func main() async {
        do {
            let settings = try BenchSettings()
            let run = BenchRun(settings: settings)
            defer { try? FileManager.default.removeItem(at: settings.work) }
            do {
                try await measure(run)
                try await run.tools.sql("DROP DATABASE IF EXISTS \(settings.database) WITH (FORCE)", database: "marketplace")
                try await run.http.shutdown()
            } catch {
                await Spawned.stopAll()
                try? await run.http.shutdown()
                throw error
            }
        } catch {
            FileHandle.standardError.write(Data("bench failed: \(error)\n".utf8))
            exit(1)
        }
    }

    static func measure(_ run: BenchRun) async throws {
        let settings = run.settings
        try await run.tools.sql(
            "DROP DATABASE IF EXISTS \(settings.database) WITH (FORCE)", "CREATE DATABASE \(settings.database)", database: "marketplace")
        // Migrations on an empty database, timed with the process's start.
        let migrateStarted = ContinuousClock.now
        try await Command.run([settings.binary("marketplace"), "migrate", "--env-file", "/nonexistent"], environment: settings.serverEnvironment)
        let migrate = ContinuousClock.now - migrateStarted

        var report = Report()
        let commit = (try? await Command.run(["git", "rev-parse", "--short", "HEAD"]))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        let memory = Quantity(value: Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824, unit: "GiB").text
        let kernel = (try? await Command.run(["uname", "-sr"]))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        // The executables beside this one: a debug run (checking the scenarios) must not pass for a measurement.
        let build = settings.binaries.lastPathComponent == "release" ? "release build" : "**not a release build** (\(settings.binaries.path)): the figures mean nothing"
        report.context = [
            "when: \(ISO8601DateFormatter().string(from: Date())), commit \(commit)",
            "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(memory), \(kernel)",
            "load: wrk -t2 -c\(settings.connections) -d\(settings.duration)s on the same machine (it shares the cores with the server); \(build); LOG_LEVEL=\(settings.logLevel) (access log lines written)",
            "rate limits raised to \(BenchSettings.raisedRateLimit) requests a window (RATE_LIMIT, AUTH_, PUBLIC_, WEBHOOK_FAILURE_, CONSOLE_SIGNIN_RATE_LIMIT_REQUESTS): the figures measure the work, not the limiter's refusals",
            settings.changeLog
                ? "change log: on, as in production (the `*_changes_*` triggers write a change row for every visible write); the sync scenario times syncs with them disabled and enabled in alternating pairs (`BENCH_CHANGE_LOG_PAIRS`)"
                : "change log: **off** (BENCH_CHANGE_LOG=off): every sync ran with the `*_changes_*` triggers disabled; the change feed scenario writes its own changes",
            "a target's \"met\" says how this run came out; single runs move by several points, and ratios hold better than absolute figures",
        ]

        let server = try await run.startServer(port: settings.basePort)
        let http = settings.runs("http") ? try await HTTPScenario.run(run, server: server) : HTTPScenario.Result()
        report.add(http.rows)
        if settings.runs("webhooks") { report.add(try await WebhookScenario.run(run, server: server, health: http.health)) }
        if settings.runs("redis") { report.add(try await RedisScenario.run(run)) }
        let nango = settings.runs("nango") ? try await NangoScenario.run(run) : NangoScenario.Result(rows: [], pagingRate: .rate(0, "records/s"))
        report.add(nango.rows)
        let serverPeak = server.memory()
        await server.stop()

        if settings.runs("sync") { report.add(try await SyncScenario.run(run, paging: nango.pagingRate)) }
        if settings.runs("reads") {
            report.add(try await ReadScenario.run(run, bare: http.bare, staticDocument: http.staticDocument))
        }
        if settings.runs("changes") { report.add(try await ChangesScenario.run(run)) }
        if settings.runs("outbound") { report.add(try await OutboundScenario.run(run)) }
        if settings.runs("console") { report.add(try await ConsoleScenario.run(run)) }
        // Last: it empties the tables the scenarios before read, and syncs 1,000 companies of its own.
        if settings.runs("drift") { report.add(try await DriftScenario.run(run)) }
        report.add([
            Row(section: .other, name: "migrations on an empty database (`marketplace migrate`, process start included)", figure: .quantity(.milliseconds(migrate))),
            Row(section: .other, name: "first server's peak RSS (HTTP, webhooks)", figure: .quantity(.mebibytes(serverPeak))),
        ])

        let text = report.markdown()
        try text.write(toFile: settings.report, atomically: true, encoding: .utf8)
        print(text)
    }
}
