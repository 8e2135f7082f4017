import Foundation
import Synchronization

/// A PostgreSQL cluster of the test's own (initdb'd in a folder of its own, on a free loopback port), for tests
/// that stop, freeze or crash Postgres: the shared test cluster serves every other test at the same time.
/// Trust authentication on loopback only; `fsync` off, since its data is thrown away and a crash here is a process
/// crash (the kernel keeps what was written). `synchronous_commit` stays on: a commit must be in the WAL when it is
/// acknowledged, or a crash-restart loses acknowledged webhooks (the chaos suite caught exactly that).
public final class PostgresCluster: Sendable {
    public let port: Int
    let home: String
    let bin: String
    /// The postmaster, run in the foreground as a child of the test (not daemonised by `pg_ctl start`: Foundation
    /// learns that a child exited when a descriptor it shares with it closes, and a daemon would hold it open).
    private let server = Mutex<Process?>(nil)

    public var databaseURL: String { "postgres://marketplace:marketplace@127.0.0.1:\(port)/marketplace" }

    private init(port: Int, home: String, bin: String) {
        self.port = port
        self.home = home
        self.bin = bin
    }

    public static func start() async throws -> PostgresCluster {
        let bin = try binaries()
        let port = FreePort.next()
        // Under /var/tmp: as root, Postgres runs as the `postgres` user, which cannot reach a checkout under /root.
        let home = "/var/tmp/marketplace-test-pg-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        if getuid() == 0 { try await ChildProcess.run(["/bin/chown", "postgres:postgres", home]) }
        let cluster = PostgresCluster(port: port, home: home, bin: bin)
        try await cluster.asPostgres([
            "\(bin)/initdb", "-D", "\(home)/data", "-U", "postgres", "--auth=trust", "--encoding=UTF8",
            "--locale=C.UTF-8", "--no-sync",
        ])
        let settings = """
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(home)'
            max_connections = 100
            shared_buffers = 32MB
            fsync = off

            """
        let conf = FileHandle(forWritingAtPath: "\(home)/data/postgresql.conf")!
        conf.seekToEndOfFile()
        conf.write(Data(settings.utf8))
        try conf.close()
        try await cluster.startServer()
        try await cluster.asPostgres([
            "\(bin)/psql", "-q", "-h", home, "-p", "\(port)", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
            "-c", "CREATE ROLE marketplace LOGIN CREATEDB PASSWORD 'marketplace'",
            "-c", "CREATE DATABASE marketplace OWNER marketplace",
        ])
        return cluster
    }

    /// Starts the server (again after ``crash()``: recovery runs, as after a real crash) and waits until it accepts
    /// connections.
    public func startServer() async throws {
        let command = ["\(bin)/postgres", "-D", "\(home)/data"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: getuid() == 0 ? "/usr/sbin/runuser" : command[0])
        process.arguments = getuid() == 0 ? ["-u", "postgres", "--"] + command : Array(command.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try ChildProcess.launch(process)
        server.withLock { $0 = process }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, process.isRunning {
            if (try? await asPostgres(["\(bin)/pg_isready", "-q", "-h", "127.0.0.1", "-p", "\(port)"])) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "postgres on \(port) did not start"])
    }

    /// `pg_ctl stop -m immediate`: every process quits at once, without a checkpoint, as in a crash.
    public func crash() async throws {
        try await asPostgres(["\(bin)/pg_ctl", "-D", "\(home)/data", "-m", "immediate", "-w", "stop"])
        while server.withLock({ $0?.isRunning }) == true { try await Task.sleep(for: .milliseconds(20)) }
    }

    /// Every process of the cluster stopped with SIGSTOP: connections stay open and get no answer, as when the
    /// machine hangs. The postmaster first, so it starts no new backend meanwhile.
    public func freeze() throws {
        let postmaster = try postmasterPid()
        kill(postmaster, SIGSTOP)
        for child in ChildProcess.children(of: postmaster) { kill(child, SIGSTOP) }
    }

    /// Every process of the cluster resumed (SIGCONT), and `runuser` above it: it stops itself when its child stops
    /// (job control, as `su` does), and a stopped `runuser` would never see the postmaster exit later.
    public func thaw() throws {
        let postmaster = try postmasterPid()
        for child in ChildProcess.children(of: postmaster) { kill(child, SIGCONT) }
        kill(postmaster, SIGCONT)
        if let runner = server.withLock({ $0?.processIdentifier }) { kill(runner, SIGCONT) }
    }

    func postmasterPid() throws -> Int32 {
        let text = try String(contentsOfFile: "\(home)/data/postmaster.pid", encoding: .utf8)
        guard let pid = text.split(separator: "\n").first.flatMap({ Int32($0) }) else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "no pid in \(home)/data/postmaster.pid"])
        }
        return pid
    }

    private func asPostgres(_ command: [String]) async throws {
        try await ChildProcess.run(getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + command : command)
    }

    static func binaries() throws -> String {
        var candidates = ["/usr/lib/postgresql/15/bin"]
        let installed = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        candidates += installed.sorted().reversed().map { "/usr/lib/postgresql/\($0)/bin" }
        guard let bin = candidates.first(where: { FileManager.default.isExecutableFile(atPath: "\($0)/pg_ctl") }) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "PostgreSQL server binaries not installed (scripts/install-deps.sh)"])
        }
        return bin
    }

    /// Killed outright (thawed first, so a frozen process dies) and its folder removed.
    deinit {
        if let postmaster = try? postmasterPid() {
            let children = ChildProcess.children(of: postmaster)
            for pid in children + [postmaster] { kill(pid, SIGKILL); kill(pid, SIGCONT) }
        }
        server.withLock { process in if process?.isRunning == true { kill(process!.processIdentifier, SIGKILL) } }
        try? FileManager.default.removeItem(atPath: home)
    }
}
