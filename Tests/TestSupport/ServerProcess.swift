import Foundation

/// The real `marketplace` executable (the debug build `make test` makes beside the tests), run as a process of
/// its own: for tests whose promise is about the process (its memory, its signals, being killed).
public final class ServerProcess: Sendable {
    public let port: Int
    public let logPath: String
    private let process: Process

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(port: Int, logPath: String, process: Process) {
        self.port = port
        self.logPath = logPath
        self.process = process
    }

    /// Starts `marketplace serve` with `environment` (and the port it is given) and waits until it answers
    /// `/health/ready` (migrated, Postgres reachable). Its output goes to a log file, shown when it does not come up.
    public static func start(
        environment: [String: String], arguments: [String] = ["serve"], executable name: String = "marketplace",
        port: Int? = nil, readyPath: String = "/health/ready"
    ) async throws -> ServerProcess {
        let port = port ?? FreePort.next()
        let logPath = NSTemporaryDirectory() + "marketplace-\(port)-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = try executable(name)
        process.arguments = arguments
        var values = environment
        values["SERVER_HOST"] = "127.0.0.1"
        values["SERVER_PORT"] = "\(port)"
        values["PATH"] = TestEnvironment.process["PATH"] ?? "/usr/bin:/bin"
        process.environment = values
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try ChildProcess.launch(process)
        let server = ServerProcess(port: port, logPath: logPath, process: process)
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline, process.isRunning {
            if await RawClient.status(port: port, path: readyPath) == 200 { return server }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "\(name) did not come up: \(server.logTail())"])
    }

    public var residentBytes: Int? { ChildProcess.residentBytes(of: pid) }

    public func signal(_ signal: Int32) {
        if process.isRunning { kill(pid, signal) }
    }

    /// Waits up to `timeout` for the process to exit; its status, or nil when it is still running.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// The last lines the server logged, for a failure's message.
    public func logTail(lines: Int = 30) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// The debug executables sit beside the test bundle (`.build/<triple>/debug/`).
    static func executable(_ name: String) throws -> URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for folder in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = folder.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "\(name) not built beside \(bundle.path) (swift build --build-tests)"])
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: logPath)
    }
}
