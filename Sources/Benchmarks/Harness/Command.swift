import Foundation
import Synchronization
import ProcessSupport

/// A tool the bench runs to its end (wrk, pgbench, psql, redis-benchmark), found on PATH: what it printed.
enum Command {
    @discardableResult
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        try await ChildProcess.run(["/usr/bin/env"] + arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new })
    }
}

/// A process of ours the bench starts and stops (a server, the emulator, the bare ceiling), with what `/proc`
/// says about it: CPU time and peak memory.
final class Spawned: Sendable {
    let name: String
    let port: Int
    let logPath: String
    private let process: Process
    /// Every child started and not yet stopped: a scenario that fails leaves its own running, and the run stops them
    /// on its way out (``stopAll()``), so the next run finds its ports free.
    private static let running = Mutex<[ObjectIdentifier: Spawned]>([:])

    var pid: Int32 { process.processIdentifier }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(name: String, port: Int, logPath: String, process: Process) {
        self.name = name
        self.port = port
        self.logPath = logPath
        self.process = process
    }

    /// Starts `executable` and waits until `readyPath` answers 200 (at most a minute).
    static func start(
        _ executable: String, arguments: [String] = [], environment: [String: String] = [:], port: Int, readyPath: String,
        settings: BenchSettings, http: BenchHTTP
    ) async throws -> Spawned {
        let name = URL(fileURLWithPath: executable).lastPathComponent
        // A process left from an interrupted run would answer in this one's place.
        if FreePort.isListening(port) {
            throw BenchFailure("port \(port) already answers (a process left from an interrupted bench?): stop it, or set BENCH_PORT")
        }
        let logPath = settings.workFile("\(name)-\(port).log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try ChildProcess.launch(process)
        let spawned = Spawned(name: name, port: port, logPath: logPath, process: process)
        running.withLock { $0[ObjectIdentifier(spawned)] = spawned }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, process.isRunning {
            // An HTTP client asked before the port listens retries the connection until its deadline: ask only once
            // something listens.
            if FreePort.isListening(port), (try? await http.status("\(spawned.baseURL)\(readyPath)")) == 200 { return spawned }
            try await Task.sleep(for: .milliseconds(50))
        }
        await spawned.stop()
        throw BenchFailure("\(name) on port \(port) did not come up:\n\(spawned.logTail())")
    }

    /// Fails with the log's tail when the process has died (a scenario waiting on it would wait forever).
    func checkAlive() throws {
        guard process.isRunning else { throw BenchFailure("\(name) exited:\n\(logTail())") }
    }

    /// User + system CPU time so far (`/proc/PID/stat`, fields 14 and 15), in milliseconds.
    var cpuMilliseconds: Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        // After "pid (comm) " the fields count from 3 (state): utime is field 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return 0 }
        return (user + system) * 1000 / sysconf(Int32(_SC_CLK_TCK))
    }

    /// A `/proc/PID/status` figure in bytes: `VmHWM` (peak resident set) or `VmRSS`.
    func memory(_ field: String = "VmHWM") -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return kilobytes * 1024
    }

    /// Waits (at most `limit`) until the process has used at most a twentieth of a core over 200 ms: wrk stops reading
    /// when its time is up, not the server working, and requests still in hand (a second each, for large answers on a
    /// slow build) would run into the next load and be charged to it.
    func settle(limit: Duration = .seconds(30)) async {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let before = cpuMilliseconds
            try? await Task.sleep(for: .milliseconds(200))
            if cpuMilliseconds - before <= 10 { return }
        }
    }

    /// SIGTERM, then waits for the exit (graceful shutdown), SIGKILL after 30 s.
    func stop() async {
        defer { Self.running.withLock { $0[ObjectIdentifier(self)] = nil } }
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(pid, SIGKILL) }
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Stops every child still running (a failed scenario's).
    static func stopAll() async {
        for spawned in running.withLock({ Array($0.values) }) { await spawned.stop() }
    }

    func logTail(lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

