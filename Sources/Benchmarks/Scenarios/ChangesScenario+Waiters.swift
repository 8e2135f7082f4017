import AsyncHTTPClient
import Foundation
import MarketplaceCore
import NIOCore
import NIOHTTP1
import Synchronization
import Tokens

// MARK: - Wake-ups under 1,000 waiting clients

extension ChangesScenario {
    /// The clients holding long polls beside the timed one (issue 31: 1,000).
    static let waitingClients = 1_000
    /// What the server of the loaded wake-ups runs with: the defaults (`HTTP_MAX_CONNECTIONS` 1,024, `CHANGES_MAX_WAITERS`
    /// 512) would refuse half the waiting clients with 503.
    static let raisedLimits = ["HTTP_MAX_CONNECTIONS": "4096", "CHANGES_MAX_WAITERS": "2048"]
    /// Each waiting client's first poll starts within this many milliseconds of the first, as clients arriving over a
    /// moment do: their holds (and the 1 s re-reads inside them) fall at every phase, not all at once.
    static let waitingClientsArrival = 0..<2_000

    /// The wake-ups of ``wakeUps`` on a server (no workers, limits raised) that holds ``waitingClients`` other long polls
    /// meanwhile: each waiting client follows a company of its own (the common case: a front end per company) with that
    /// company's token, `wait=30`, polling again from its cursor each time a hold ends, as the protocol's loop does.
    /// Nothing changes their companies, so their holds end empty after 30 s. While held they read nothing unless woken:
    /// the listener's one statement a second names the companies whose changes became readable (docs/changes.md).
    static func wakeUpsUnderLoad(_ run: BenchRun, company: String, authorization: (String, String)) async throws -> [Row] {
        let clients = waitingClients
        progress("\(run.settings.wakeUps) long polls woken by a commit, \(clients) other clients holding long polls")
        let limit = try raiseOpenFileLimit(atLeast: 2 * clients + 1024)
        // Companies of their own (the inserts' changes come before every cursor taken below), of an integration no
        // pipeline reads, so no scheduled task of the server queues work for them.
        let followed = try await run.tools.sql("""
            WITH made AS (
              INSERT INTO companies (connection_id, integration_id, provider, name)
              SELECT 'bench-waiting-' || g, 'bench-waiting', 'bench-waiting', 'Waiting client ' || g FROM generate_series(1, \(clients)) g
              RETURNING id)
            SELECT id FROM made
            """).split(separator: "\n").compactMap { UUID(uuidString: String($0)) }
        guard followed.count == clients else { throw BenchFailure("made \(followed.count) of the \(clients) waiting clients' companies") }
        do {
            return try await measureUnderLoad(run, company: company, authorization: authorization, followed: followed, fileLimit: limit)
        } catch {
            try? await removeWaitingCompanies(run)
            throw error
        }
    }

    /// The waiting clients' companies go before the server stops, so its outbound dispatcher (nobody subscribed) moves
    /// past what their inserts and deletes wrote, and the outbound scenario starts from a quiet log.
    static func removeWaitingCompanies(_ run: BenchRun) async throws {
        try await run.tools.sql("DELETE FROM companies WHERE integration_id = 'bench-waiting'")
        try await Task.sleep(for: .seconds(1))
    }

    private static func measureUnderLoad(
        _ run: BenchRun, company: String, authorization: (String, String), followed: [UUID], fileLimit: String
    ) async throws -> [Row] {
        let server = try await run.startServer(port: run.settings.basePort + 7, raisedLimits.merging([
            "NANGO_BASE_URL": "http://127.0.0.1:9", "WORKER_COUNT": "0",
        ]) { _, new in new })
        let issuer = await TokenIssuer(secret: run.settings.jwtSecret, lifetime: .seconds(3600))
        var tokens: [String] = []
        for id in followed { tokens.append(try await issuer.companyToken(id, subject: "bench-waiting")) }
        // A client of their own: the bench's keeps 8 connections to a host, and each held poll needs one.
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: followed.count + 16)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let waiting = Waiting()
        let feed = server.baseURL + "/api/companies/\(company)/changes"
        do {
            let start = try await page(run, feed + "?after=now", authorization).cursor
            let rows = try await withThrowingTaskGroup(of: Void.self) { group -> [Row] in
                for (id, token) in zip(followed, tokens) {
                    let url = server.baseURL + "/api/companies/\(id)/changes"
                    group.addTask { await follow(client: client, url: url, token: token, waiting: waiting) }
                }
                // Every client's first poll sent, and a moment for the server to read once and hold each.
                let deadline = ContinuousClock.now + .seconds(60)
                while waiting.state.withLock({ $0.started }) < followed.count || waiting.state.withLock({ $0.inFlight }) < followed.count {
                    try server.checkAlive()
                    let state = waiting.state.withLock { $0 }
                    guard state.errors == 0 else { throw BenchFailure("a waiting client's poll failed: \(state.firstErrors.joined(separator: "; "))") }
                    guard ContinuousClock.now < deadline else {
                        throw BenchFailure("\(state.inFlight) of \(followed.count) waiting clients hold a poll after 60 s")
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                try await Task.sleep(for: .seconds(2))
                let heldAtStart = waiting.state.withLock { $0.inFlight }
                let cpuAtStart = server.cpuMilliseconds
                let postgresAtStart = postgresCPU(database: run.settings.database)
                let started = ContinuousClock.now
                let timed = try await timeWakeUps(run, server: server, feed: feed, company: company, authorization: authorization, after: start)
                let elapsed = ContinuousClock.now - started
                let cpu = server.cpuMilliseconds - cpuAtStart
                let postgres = postgresCPU(database: run.settings.database).reduce(0) { $0 + $1.value - (postgresAtStart[$1.key] ?? 0) }
                let heldAtEnd = waiting.state.withLock { $0.inFlight }
                // Each client ends with the answer of the poll it holds now (at most 30 s more).
                waiting.state.withLock { $0.stopping = true }
                progress("waiting for the \(followed.count) waiting clients' last holds to end (up to 30 s)")
                try await group.waitForAll()
                let state = waiting.state.withLock { $0 }
                let name = "long poll (`wait=30`) answered after one change commits, \(timed.samples.count) samples, "
                    + "\(followed.count) other clients holding long polls (each on its own company's feed)"
                func cores(_ milliseconds: Int) -> String { String(format: "%.2f", Double(milliseconds) / 1000 / max(0.001, elapsed.seconds)) }
                return wakeUpRows(timed, name: name, note: "\(heldAtStart) other polls held when the timing began, \(heldAtEnd) when it ended; "
                    + "server started with \(raisedLimits.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " and ")) "
                    + "(defaults 512 and 1,024: half the clients would get 503), no workers; its CPU over the timing \(cores(cpu)) cores "
                    + "(\(cpu) ms in \(Int(elapsed / .milliseconds(1))) ms), the bench database's Postgres backends' \(cores(postgres)) cores; "
                    + "open-file limit \(fileLimit)")
                    + [waitingRow(state, clients: followed.count)]
            }
            try await client.shutdown()
            try await removeWaitingCompanies(run)
            await server.stop()
            return rows
        } catch {
            waiting.state.withLock { $0.stopping = true }
            try? await client.shutdown()
            try? await removeWaitingCompanies(run)
            await server.stop()
            throw error
        }
    }

    /// What the waiting clients got: every hold ended with a 200 (empty, after about 30 s), never an error.
    private static func waitingRow(_ state: Waiting.State, clients: Int) -> Row {
        let holds = state.answered == 0 ? "none"
            : String(format: "%.1f–%.1f s", state.shortestHold.seconds, state.longestHold.seconds)
        let verdict = state.errors == 0 && state.clientsAnswered == clients && state.withChanges == 0
            ? "all \(clients) answered, no errors"
            : "**\(state.clientsAnswered) of \(clients) clients answered, \(state.errors) errors, \(state.withChanges) answers with changes**"
        return Row(section: .changes, name: "the \(clients) waiting clients' long polls (`wait=30`) beside the timed one", figure: .text(verdict),
                   note: "\(state.answered) holds answered 200 with no changes after \(holds) (nothing changed their companies); \(state.errors) errors"
                       + (state.firstErrors.isEmpty ? "" : " (\(state.firstErrors.joined(separator: "; ")))"))
    }

    /// The waiting clients' tally, under one lock.
    final class Waiting: Sendable {
        struct State {
            var started = 0
            var inFlight = 0
            var answered = 0
            var withChanges = 0
            var errors = 0
            var firstErrors: [String] = []
            var clientsAnswered = 0
            var shortestHold = Duration.seconds(1_000)
            var longestHold = Duration.zero
            var stopping = false
        }

        let state = Mutex(State())

        func failed(_ text: String) {
            state.withLock { state in
                state.errors += 1
                if state.firstErrors.count < 3 { state.firstErrors.append(text) }
            }
        }
    }

    /// One waiting client: `after=now`, then its `next_cursor` each time, holding `wait=30` until told to stop (its hold
    /// under way is answered first).
    private static func follow(client: HTTPClient, url: String, token: String, waiting: Waiting) async {
        try? await Task.sleep(for: .milliseconds(Int.random(in: waitingClientsArrival)))
        waiting.state.withLock { $0.started += 1 }
        var cursor = "now"
        var answeredOnce = false
        while !waiting.state.withLock({ $0.stopping }), !Task.isCancelled {
            var request = HTTPClientRequest(url: url + "?after=\(cursor)&wait=30")
            request.headers.add(name: "Authorization", value: "Bearer " + token)
            waiting.state.withLock { $0.inFlight += 1 }
            let sent = ContinuousClock.now
            do {
                let response = try await client.execute(request, timeout: .seconds(60))
                let body = try await response.body.collect(upTo: 1 << 20)
                let held = ContinuousClock.now - sent
                waiting.state.withLock { $0.inFlight -= 1 }
                guard response.status == .ok else {
                    waiting.failed("\(response.status.code): \(String(buffer: body).prefix(200))")
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
                let read = try FeedPage(body)
                cursor = read.cursor
                waiting.state.withLock { state in
                    state.answered += 1
                    if read.count > 0 { state.withChanges += 1 }
                    if !answeredOnce { state.clientsAnswered += 1 }
                    state.shortestHold = min(state.shortestHold, held)
                    state.longestHold = max(state.longestHold, held)
                }
                answeredOnce = true
            } catch {
                waiting.state.withLock { $0.inFlight -= 1 }
                waiting.failed("\(error)")
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// CPU time (user + system, milliseconds) of each Postgres backend serving `database` on this machine, by pid: the
    /// server's pooled connections (and any psql of the bench's at that moment); other databases' backends are left out.
    static func postgresCPU(database: String) -> [Int32: Int] {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        var times: [Int32: Int] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let command = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline").map({ String(decoding: $0, as: UTF8.self) }),
                  command.hasPrefix("postgres: "), command.split(separator: " ").dropFirst(2).first == Substring(database),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { continue }
            times[pid] = (user + system) * 1000 / ticks
        }
        return times
    }

    /// Raises this process's soft open-file limit (its children, the servers, inherit it) to `atLeast`, within the hard
    /// limit; says what it is now.
    static func raiseOpenFileLimit(atLeast wanted: Int) throws -> String {
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { throw BenchFailure("getrlimit(RLIMIT_NOFILE) failed: errno \(errno)") }
        guard limit.rlim_cur < rlim_t(wanted) else { return "\(limit.rlim_cur), not raised" }
        let was = limit.rlim_cur
        limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
        guard setrlimit(resource, &limit) == 0, limit.rlim_cur >= rlim_t(wanted) else {
            throw BenchFailure("\(wanted) open files are needed; the hard limit is \(limit.rlim_max) (ulimit -Hn)")
        }
        return "raised from \(was) to \(limit.rlim_cur) in the bench (the server inherits it)"
    }
}
