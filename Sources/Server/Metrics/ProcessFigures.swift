import Foundation
import Synchronization

/// The standard process metrics, read from `/proc` at scrape time (swift-metrics has none of its own):
/// CPU seconds, resident memory, open descriptors and start time, as Prometheus' own clients name them.
struct ProcessFigures: Sendable, Equatable {
    var cpuSeconds: Double
    var residentBytes: Int
    var openFileDescriptors: Int
    var startTimeSeconds: Double

    /// This process's figures; nil where `/proc` is not there to read (not Linux).
    static func current() -> ProcessFigures? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let system = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let bootTime = bootTime(procStat: system)
        else { return nil }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        return parse(
            stat: stat, bootTime: bootTime, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))), pageSize: sysconf(Int32(_SC_PAGESIZE)),
            openFileDescriptors: descriptors)
    }

    /// `/proc/self/stat`: the fields after the command's closing parenthesis (the command may hold spaces and
    /// parentheses of its own), utime and stime in clock ticks, starttime in ticks after boot, rss in pages.
    static func parse(stat: String, bootTime: Double, ticksPerSecond: Double, pageSize: Int, openFileDescriptors: Int) -> ProcessFigures? {
        guard let close = stat.lastIndex(of: ")"), ticksPerSecond > 0 else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state) of proc(5): field N is fields[N - 3].
        guard fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]), let start = Double(fields[19]),
            let rss = Int(fields[21])
        else { return nil }
        return ProcessFigures(
            cpuSeconds: (utime + stime) / ticksPerSecond, residentBytes: rss * pageSize, openFileDescriptors: openFileDescriptors,
            startTimeSeconds: bootTime + start / ticksPerSecond)
    }

    /// `btime` of `/proc/stat`: when the machine booted, in Unix seconds.
    static func bootTime(procStat: String) -> Double? {
        for line in procStat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}

/// `process_cpu_seconds_total` is a counter: each scrape adds what was spent since the one before.
final class ProcessCPUCounter: Sendable {
    private let reported = Mutex<Double>(0)

    /// The seconds to add now (never negative).
    func advance(to total: Double) -> Double {
        reported.withLock { seen in
            let delta = max(0, total - seen)
            seen = max(seen, total)
            return delta
        }
    }
}
