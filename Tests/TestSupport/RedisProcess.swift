import Foundation

/// A redis-server of the test's own on a free loopback port, for tests that stop and restart Redis
/// without disturbing the shared one the other tests use.
public final class RedisProcess: Sendable {
    public let port: Int
    private let process: Process

    private init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    public static func start(port: Int? = nil) async throws -> RedisProcess {
        let port = port ?? FreePort.next()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable())
        process.arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--loglevel", "warning",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try ChildProcess.launch(process)
        let server = RedisProcess(port: port, process: process)
        try await server.waitUntil(accepting: true)
        return server
    }

    /// Sends `signal` (SIGSTOP freezes it with its data; SIGCONT resumes it).
    public func signal(_ signal: Int32) {
        if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
    }

    /// How many keys match `pattern` (redis-cli's KEYS; test data only).
    public func keyCount(matching pattern: String) async throws -> Int {
        let output = try await ChildProcess.run(["/usr/bin/redis-cli", "-p", "\(port)", "--raw", "KEYS", pattern])
        return output.split(separator: "\n").count
    }

    /// Kills the server (no clean shutdown, as in a crash) and waits until the port is closed.
    public func kill() async throws {
        guard process.isRunning else { return }
        // SIGKILL: a crash, and immune to a signal mask the child may inherit from the test runner.
        Glibc.kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        try await waitUntil(accepting: false)
    }

    private func waitUntil(accepting: Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            // A server that exited (its port taken) must not pass for one that started.
            if accepting, !process.isRunning { break }
            if Self.accepts(port: port) == accepting { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "redis-server on \(port) did not \(accepting ? "start" : "stop")"])
    }

    private static func accepts(port: Int) -> Bool { FreePort.isListening(port) }

    private static func executable() throws -> String {
        for candidate in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "redis-server not installed (scripts/install-deps.sh)"])
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}
