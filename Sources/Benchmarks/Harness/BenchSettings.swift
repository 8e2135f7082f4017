import Foundation

/// What one `make bench` run measures with: knobs from the environment (the same names `scripts/bench.sh` has
/// always read), the project's services, and the release executables beside this one.
struct BenchSettings: Sendable {
    /// Seconds each load (wrk, pgbench, the Redis client) runs.
    let duration: Int
    /// wrk's open connections.
    let connections: Int
    /// The first of the ports the bench's servers take (each scenario adds its own offset).
    let basePort: Int
    let postgresPort: Int
    let redisPort: Int
    /// `BENCH_DATABASE`: two benches on one machine need a database each (and a `BENCH_PORT` each).
    let database: String
    let webhookCount: Int
    let nangoRecords: Int
    let syncRecords: Int
    /// The large sync for peak memory (0 skips it).
    let syncLargeRecords: Int
    let logLevel: String
    /// `BENCH_CHANGE_LOG`: `on` (default) leaves the change log's `*_changes_*` triggers as production has them, and the
    /// sync scenario measures one more sync with them disabled beside it; `off` runs every sync of the bench with them
    /// disabled (re-enabled after each), for comparing runs by hand.
    let changeLog: Bool
    /// `BENCH_CHANGE_LOG_PAIRS`: how many pairs of syncs (one without the change log, one with it) the sync scenario
    /// times for the log's cost, alternating which of a pair goes first.
    let changeLogPairs: Int
    /// `BENCH_WAKEUPS`: how many long polls the change feed scenario times from commit to answer (0 skips them).
    let wakeUps: Int
    /// `BENCH_DELIVERIES`: how many pending messages the outbound scenario has delivered to its receiver, timed.
    let deliveries: Int
    /// `BENCH_OUTBOUND_SAMPLES`: how many single changes the outbound scenario times from commit to delivery (0 skips them).
    let outboundSamples: Int
    /// The release executables: `marketplace`, `nango-emulator`, `bare-ceiling` sit beside `marketplace-bench`.
    let binaries: URL
    let work: URL
    let report: String
    /// `BENCH_ONLY`: the scenarios to run (comma-separated: http, webhooks, redis, nango, sync, reads, changes, outbound, console, drift); all
    /// when unset.
    /// A figure whose ceiling comes from a scenario left out reads "not measured in this run" against it.
    let only: Set<String>?

    /// The rate limits of the security step would answer most of a load test with 429: raised for every
    /// server the bench starts (and said so in the report), so every figure is the work itself.
    static let raisedRateLimit = 1_000_000
    let nangoSecretKey = "6f1c3a52-5a0e-4b43-9a55-2b8e0d4c1e77"
    let emulatorWebhookKey = "bench-webhook-key"
    let adminToken = "bench-admin-token-0123456789"
    let jwtSecret = "bench-jwt-secret-0123456789-0123456789"
    let webhookSecret = "bench-nango-secret"

    init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        func number(_ name: String, _ fallback: Int) throws -> Int {
            guard let text = environment[name], !text.isEmpty else { return fallback }
            guard let value = Int(text), value >= 0 else { throw BenchFailure("\(name)=\(text) is not a whole number ≥ 0") }
            return value
        }
        duration = try number("BENCH_DURATION", 10)
        connections = try number("BENCH_CONNECTIONS", 64)
        basePort = try number("BENCH_PORT", 18090)
        database = environment["BENCH_DATABASE"].flatMap { $0.isEmpty ? nil : $0 } ?? "marketplace_bench"
        guard database.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), database.first?.isLetter == true else {
            throw BenchFailure("BENCH_DATABASE=\(database): letters, digits and _ only, starting with a letter")
        }
        postgresPort = try number("PG_PORT", 55432)
        redisPort = try number("REDIS_PORT", 56379)
        webhookCount = try number("BENCH_WEBHOOKS", 300_000)
        nangoRecords = try number("BENCH_NANGO_RECORDS", 100_000)
        syncRecords = try number("BENCH_SYNC_RECORDS", 100_000)
        syncLargeRecords = try number("BENCH_SYNC_LARGE", 1_000_000)
        logLevel = environment["BENCH_LOG_LEVEL"] ?? "info"
        switch environment["BENCH_CHANGE_LOG"] ?? "" {
        case "", "on": changeLog = true
        case "off": changeLog = false
        case let text: throw BenchFailure("BENCH_CHANGE_LOG=\(text): on or off")
        }
        changeLogPairs = try number("BENCH_CHANGE_LOG_PAIRS", 2)
        wakeUps = try number("BENCH_WAKEUPS", 300)
        deliveries = try number("BENCH_DELIVERIES", 10_000)
        outboundSamples = try number("BENCH_OUTBOUND_SAMPLES", 300)
        binaries = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        work = FileManager.default.temporaryDirectory.appendingPathComponent("marketplace-bench-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        // The servers read the bench's pipelines by a path relative to the project's root.
        guard FileManager.default.fileExists(atPath: "bench/pipelines-sync.yaml") else {
            throw BenchFailure("bench/pipelines-sync.yaml is not in \(FileManager.default.currentDirectoryPath): run marketplace-bench from the project's root (make bench does)")
        }
        report = environment["BENCH_REPORT"] ?? "bench/results/latest.md"
        let scenarios: Set<String> = ["http", "webhooks", "redis", "nango", "sync", "reads", "changes", "outbound", "console", "drift"]
        only = try environment["BENCH_ONLY"].flatMap { text -> Set<String>? in
            guard !text.isEmpty else { return nil }
            let names = Set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            guard names.isSubset(of: scenarios) else {
                throw BenchFailure("BENCH_ONLY=\(text): unknown \(names.subtracting(scenarios).sorted()); known: \(scenarios.sorted())")
            }
            return names
        }
    }

    var databaseURL: String { "postgres://marketplace:marketplace@127.0.0.1:\(postgresPort)/\(database)" }
    var redisURL: String { "redis://127.0.0.1:\(redisPort)/0" }

    /// What every server the bench starts runs with; a scenario adds its own (port, workers, Nango).
    var serverEnvironment: [String: String] {
        let limit = "\(Self.raisedRateLimit)"
        return [
            "DATABASE_URL": databaseURL, "REDIS_URL": redisURL,
            "NANGO_SECRET_KEY": webhookSecret, "NANGO_WEBHOOK_SECRET": webhookSecret, "JWT_SECRET": jwtSecret,
            "TOKEN_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            "SERVER_HOST": "127.0.0.1", "LOG_LEVEL": logLevel,
            "RATE_LIMIT_REQUESTS": limit, "AUTH_RATE_LIMIT_REQUESTS": limit, "PUBLIC_RATE_LIMIT_REQUESTS": limit,
            "WEBHOOK_FAILURE_RATE_LIMIT_REQUESTS": limit, "CONSOLE_SIGNIN_RATE_LIMIT_REQUESTS": limit,
            // The bench's webhook receiver listens on loopback, over http (docs/outbound.md).
            "OUTBOUND_ALLOW_HTTP": "true", "OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true",
        ]
    }

    func runs(_ scenario: String) -> Bool { only?.contains(scenario) ?? true }

    func binary(_ name: String) -> String { binaries.appendingPathComponent(name).path }
    func workFile(_ name: String) -> String { work.appendingPathComponent(name).path }
}

/// Why the bench stopped: printed, and the exit status is 1.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
