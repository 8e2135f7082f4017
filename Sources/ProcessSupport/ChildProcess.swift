import Foundation

/// Runs a command to its end without blocking a thread of the cooperative pool, and says how it ended.
public enum ChildProcess {
    public struct Failed: Error, CustomStringConvertible {
        public let command: [String]
        public let status: Int32
        public let output: String
        public var description: String { "\(command.joined(separator: " ")) exited \(status): \(output)" }
    }

    /// Runs `command` (absolute path first) and returns its output; throws when it exits non-zero.
    @discardableResult
    public static func run(_ command: [String], environment: [String: String]? = nil) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        if let environment { process.environment = environment }
        // A file, not a pipe: a daemon the command starts (pg_ctl start) would hold a pipe open after the command exits.
        let outputPath = NSTemporaryDirectory() + "child-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        defer { try? output.close() }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try launch(process) } catch { continuation.resume(throwing: error) }
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else { throw Failed(command: command, status: status, output: text) }
        return text
    }

    /// Starts `process` with no signal blocked: a child inherits the mask of the thread that starts it, and the
    /// cooperative pool's threads block signals (SIGALRM, which pgbench's `-T` needs to ever stop; SIGTERM).
    public static func launch(_ process: Process) throws {
        var open = sigset_t(), saved = sigset_t()
        sigemptyset(&open)
        pthread_sigmask(SIG_SETMASK, &open, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try process.run()
    }

    /// Pids of the live processes whose parent is `parent`.
    public static func children(of parent: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            // After "pid (comm) ": state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent
        }
    }

    /// The resident set of a live process, in bytes (`VmRSS` of /proc/<pid>/status).
    public static func residentBytes(of pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kilobytes * 1024
    }
}
