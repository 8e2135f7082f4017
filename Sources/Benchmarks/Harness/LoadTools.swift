import Foundation

/// What wrk measured for one path.
struct WrkResult: Sendable {
    let requestsPerSecond: Double
    let p50: String
    let p99: String
    let non2xx: Int
    /// Lines a wrk script printed as `name value` (the webhook script's answer counts).
    let counters: [String: Int]

    /// `p50 1.45ms, p99 3.25ms, non-2xx 0`: what every HTTP row's note says of its latencies.
    var latencies: String { "p50 \(p50), p99 \(p99), non-2xx \(non2xx)" }
}

/// Loads measured in alternating rounds (A, B, A, B, …), each kept as the run with its median rate: a slow spell of
/// the shared machine then touches both sides of a ratio, not one.
struct Alternated: Sendable {
    /// Per load, in the order given: its median run, and every round's rate.
    let medians: [WrkResult]
    let rounds: [[Double]]

    init(rounds count: Int, _ loads: [@Sendable () async throws -> WrkResult]) async throws {
        var runs = Array(repeating: [WrkResult](), count: loads.count)
        for _ in 0..<count {
            for (index, load) in loads.enumerated() { runs[index].append(try await load()) }
        }
        medians = runs.map { $0.sorted { $0.requestsPerSecond < $1.requestsPerSecond }[$0.count / 2] }
        rounds = runs.map { $0.map(\.requestsPerSecond) }
    }

    /// `median of 3 alternating runs: 8,850, 9,120, 10,010 req/s`.
    func note(_ index: Int) -> String {
        "median of \(rounds[index].count) alternating runs: " + rounds[index].sorted().map { String(format: "%.0f", $0) }.joined(separator: ", ") + " req/s"
    }
}

/// The standard tools the ceilings come from, and the one the HTTP loads come from (wrk), with their output read.
struct LoadTools: Sendable {
    let settings: BenchSettings

    /// `wrk -t2 -c<connections> -d<duration>s --latency` on `url`; `connections` defaults to `BENCH_CONNECTIONS`.
    func wrk(
        _ url: String, headers: [String] = [], script: String? = nil, scriptArguments: [String] = [], connections: Int? = nil
    ) async throws -> WrkResult {
        progress("wrk \(url)")
        var arguments = ["wrk", "-t2", "-c\(connections ?? settings.connections)", "-d\(settings.duration)s", "--latency"]
        for header in headers { arguments += ["-H", header] }
        if let script { arguments += ["-s", script] }
        arguments.append(url)
        if !scriptArguments.isEmpty { arguments += ["--"] + scriptArguments }
        let output = try await Command.run(arguments)
        var counters: [String: Int] = [:]
        var rate: Double?, p50 = "?", p99 = "?", non2xx = 0
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            switch first {
            case "Requests/sec:": rate = fields.count > 1 ? Double(fields[1]) : nil
            case "50%": p50 = fields.count > 1 ? String(fields[1]) : "?"
            case "99%": p99 = fields.count > 1 ? String(fields[1]) : "?"
            case "Non-2xx": non2xx = fields.last.flatMap { Int($0) } ?? 0
            default:
                if fields.count == 2, let value = Int(fields[1]) { counters[String(first)] = value }
            }
        }
        guard let rate else { throw BenchFailure("wrk printed no rate for \(url):\n\(output)") }
        return WrkResult(requestsPerSecond: rate, p50: p50, p99: p99, non2xx: non2xx, counters: counters)
    }

    /// pgbench's transactions per second for one SQL script, over `clients` connections.
    func pgbench(sql: String, name: String, clients: Int) async throws -> Double {
        progress("pgbench \(name)")
        let script = settings.workFile("\(name).sql")
        try sql.write(toFile: script, atomically: true, encoding: .utf8)
        let output = try await Command.run(
            ["pgbench", "-n", "-h", "127.0.0.1", "-p", "\(settings.postgresPort)", "-U", "marketplace", "-c", "\(clients)",
             "-j", "\(min(clients, 2))", "-T", "\(settings.duration)", "-f", script, settings.database],
            environment: ["PGPASSWORD": "marketplace"])
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps") }),
              let tps = line.split(separator: " ").dropFirst(2).first.flatMap({ Double($0) }) else {
            throw BenchFailure("pgbench printed no tps:\n\(output)")
        }
        return tps
    }

    /// Runs each statement (or psql meta-command) with psql on the bench's database; returns the last one's
    /// unaligned output, trimmed.
    @discardableResult
    func sql(_ statements: String..., database: String? = nil) async throws -> String {
        var arguments = ["psql", "-qAt", "-h", "127.0.0.1", "-p", "\(settings.postgresPort)", "-U", "marketplace",
                         "-d", database ?? settings.database, "-v", "ON_ERROR_STOP=1"]
        for statement in statements { arguments += ["-c", statement] }
        return try await Command.run(arguments, environment: ["PGPASSWORD": "marketplace"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func sqlInt(_ statement: String) async throws -> Int {
        let text = try await sql(statement)
        guard let value = Int(text) else { throw BenchFailure("\(statement) gave \(text), not a number") }
        return value
    }

    /// redis-benchmark's PING rate with `arguments` (concurrency, pipelining, count).
    func redisBenchmark(_ arguments: [String]) async throws -> Double {
        let output = try await Command.run(["redis-benchmark", "-h", "127.0.0.1", "-p", "\(settings.redisPort)", "--csv", "-t", "ping_mbulk"] + arguments)
        // CSV: "PING_MBULK","<rps>",…
        guard let line = output.split(separator: "\n").first(where: { $0.contains("PING") }) else {
            throw BenchFailure("redis-benchmark printed no PING line:\n\(output)")
        }
        let fields = line.split(separator: "\"", omittingEmptySubsequences: false)
        guard fields.count > 3, let rate = Double(fields[3]) else { throw BenchFailure("redis-benchmark line unreadable: \(line)") }
        return rate
    }
}
