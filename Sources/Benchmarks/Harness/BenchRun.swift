import Foundation

/// What every scenario works with: the settings, the tools, the bench's HTTP client, and how to start our
/// executables on the bench's database.
struct BenchRun: Sendable {
    let settings: BenchSettings
    let tools: LoadTools
    let http: BenchHTTP

    init(settings: BenchSettings) {
        self.settings = settings
        self.tools = LoadTools(settings: settings)
        self.http = BenchHTTP()
    }

    /// `marketplace serve` on the bench's database at `port`, with `environment` over the bench's own; waits for
    /// `/health/ready` (migrated, Postgres reachable).
    func startServer(port: Int, _ environment: [String: String] = [:]) async throws -> Spawned {
        var values = settings.serverEnvironment.merging(environment) { _, new in new }
        values["SERVER_PORT"] = "\(port)"
        return try await Spawned.start(
            settings.binary("marketplace"), arguments: ["serve", "--env-file", "/nonexistent"], environment: values,
            port: port, readyPath: "/health/ready", settings: settings, http: http)
    }

    /// The emulator with `arguments` after its port and keys; waits for its `/health`.
    func startEmulator(port: Int, _ arguments: [String]) async throws -> Spawned {
        try await Spawned.start(
            settings.binary("nango-emulator"),
            arguments: ["--port", "\(port)", "--secret-key", settings.nangoSecretKey, "--webhook-secret", settings.emulatorWebhookKey] + arguments,
            port: port, readyPath: "/health", settings: settings, http: http)
    }

    /// Polls `condition` every 50 ms until it holds, failing when `process` dies meanwhile.
    /// Fails after `limit` with the process's log tail: a server that stays up but never gets there (a pipelines file
    /// it cannot read, a sync that never starts) would otherwise hold the bench for good.
    func waitUntil(watching process: Spawned, limit: Duration = .seconds(900), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while try await !condition() {
            try process.checkAlive()
            guard ContinuousClock.now < deadline else {
                throw BenchFailure("\(process.name) did not get there in \(Int(limit.seconds)) s:\n\(process.logTail())")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

extension Duration {
    var seconds: Double { self / .seconds(1) }
}

/// `count` over `duration`, per second.
func perSecond(_ count: Int, _ duration: Duration) -> Double {
    duration.seconds > 0 ? Double(count) / duration.seconds : 0
}

/// A line saying what the bench does now, written at once (stdout to a file is buffered).
func progress(_ line: String) {
    FileHandle.standardOutput.write(Data(("==> " + line + "\n").utf8))
}
