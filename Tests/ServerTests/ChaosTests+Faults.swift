import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PostgresNIO
import Storage
import Synchronization
import Testing
import TestSupport

@testable import NangoEmulator

/// Each fault's injection. The last three reach the interleavings of issue 26's items 1, 3 and 4 from outside: each
/// waits for the state it needs (a page committed, a read running, a write held on a lock) rather than for a time,
/// and notes in `cluster.reached` whether that state came, so a round that missed it says so in the table.
extension ChaosTests {
    static let pipelines = [
        "hubspot/Contact": "hubspot-contacts", "hubspot/Company": "hubspot-companies", "hubspot/Product": "hubspot-products",
        "xero/Contact": "xero-contacts", "xero/Item": "xero-items",
    ]

    static func inject(_ fault: Fault, cluster: Cluster, random: inout SeededGenerator) async throws {
        let hold = Duration.milliseconds(Int(2_000 + random.next() % 4_000))
        switch fault {
        case .killInstance, .sigtermUnderLoad:
            try await cluster.restartInstance(Int(random.next() % 2), signal: fault == .killInstance ? SIGKILL : SIGTERM)
        case .postgresCrash:
            try await cluster.postgres.crash()
            try await Task.sleep(for: hold)
            try await cluster.postgres.startServer()
        case .postgresFreeze:
            try cluster.postgres.freeze()
            try await Task.sleep(for: hold * 2)   // longer than the 5 s lease
            try cluster.postgres.thaw()
        case .redisKill:
            let redis = cluster.redis.withLock { $0 }
            try await redis?.kill()
            try await Task.sleep(for: hold)
            let back = try await RedisProcess.start(port: cluster.redisPort)
            cluster.redis.withLock { $0 = back }
        case .redisFreeze:
            let redis = cluster.redis.withLock { $0 }
            redis?.signal(SIGSTOP)
            try await Task.sleep(for: hold)
            redis?.signal(SIGCONT)
        case .redisPartition:
            cluster.redisProxy.cut()
            try await Task.sleep(for: hold)
            cluster.redisProxy.heal()
        case .nangoFaults:
            try await cluster.control(.PUT, "/faults", #"{"rate_429": 0.2, "rate_500": 0.1, "truncate_rate": 0.1}"#)
            try await Task.sleep(for: hold)
            try await cluster.control(.DELETE, "/faults", "{}")
        case .lostWebhooks:
            try await cluster.control(.PUT, "/faults", #"{"bad_signature_next": 3}"#)
            try await cluster.control(.POST, "/connections/chaos-x/changes", #"{"provider_config_key": "xero", "model": "Item", "add": 15}"#)
            try await Task.sleep(for: hold)
        case .lateCommits:
            // Records that commit behind Nango's cursor: incremental reads never see them, every sync succeeds. Only the
            // drift check (Nango's count against ours, then a full re-read) brings them in: convergence proves it ran.
            let (integration, connection, models) = connections[Int(random.next() % 2)]
            let model = models[Int(random.next() % UInt64(models.count))]
            try await cluster.control(.POST, "/connections/\(connection)/changes",
                                      #"{"provider_config_key": "\#(integration)", "model": "\#(model)", "add": 12, "late": 8}"#)
            cluster.reach("records committed late behind Nango's cursor, \(integration)/\(model)")
            try await Task.sleep(for: hold)
        case .frozenMidFullResync:
            let (integration, connection, models) = connections[Int(random.next() % 2)]
            try await freezeMidFullResync(cluster, integration, connection, models[Int(random.next() % UInt64(models.count))])
        case .nangoRestartMidRead:
            let (integration, connection, models) = connections[Int(random.next() % 2)]
            try await restartNangoMidRead(
                cluster, integration, connection, models[Int(random.next() % UInt64(models.count))], drop: 5 + Int(random.next() % 20))
        case .rederiveKilled:
            try await killMidRederive(cluster)
        }
    }

    /// Item 1: a full re-read's worker frozen between two pages for longer than its lease. The other instance takes
    /// the job over and finishes the resync (its deletions and its close) while the frozen one sleeps; woken, the
    /// frozen one must write nothing. A late page of its read, or a deletion by a resync another worker closed (every
    /// row of the model), would show as rows missing against Nango.
    static func freezeMidFullResync(_ cluster: Cluster, _ integration: String, _ connection: String, _ model: String) async throws {
        try await cluster.control(.PUT, "/faults", #"{"latency_ms": 1000}"#)
        var frozen: ServerProcess?
        do {
            let company = try await cluster.companyId(connection)
            let (status, body) = try await cluster.admin("/api/admin/pipelines/\(pipelines["\(integration)/\(model)"]!)/full-resync?company_id=\(company)")
            #expect(status == 202, "full resync of \(integration)/\(model) asked for: \(body)")
            // A page committed (the resync has a cursor), more to come, its job running: the worker waits on Nango.
            let found = await waitFor(.seconds(60)) { () -> (resync: String, instance: Int)? in
                let rows = try await cluster.strings("""
                    SELECT r.id::text || '|' || j.lease_owner FROM full_resyncs r
                    JOIN jobs j ON j.concurrency_key = 'full_resync:\(integration):\(connection):\(model)' AND j.status = 'running'
                    WHERE r.integration_id = '\(integration)' AND r.connection_id = '\(connection)' AND r.model = '\(model)'
                      AND r.finished_at IS NULL AND r.cursor IS NOT NULL
                    """)
                guard let parts = rows.first?.split(separator: "|").map(String.init), parts.count == 2,
                      let index = cluster.index(leaseOwner: parts[1]) else { return nil }
                return (parts[0], index)
            }
            guard let found, let server = cluster.instance(found.instance) else {
                cluster.reach("full re-read: no page seen committed mid-read")
                try await cluster.control(.DELETE, "/faults", "{}")
                return
            }
            server.signal(SIGSTOP)
            frozen = server
            // Whoever takes the job over reads the rest at full speed.
            try await cluster.control(.DELETE, "/faults", "{}")
            let start = ContinuousClock.now
            // Woken once another worker has closed the resync (item 1's order), after 12 s at the least, 40 s at most.
            let closedByOther = await waitFor(.seconds(40)) { () -> Bool? in
                guard ContinuousClock.now - start >= .seconds(12) else { return nil }
                return try await cluster.int("SELECT count(*)::int FROM full_resyncs WHERE id = \(found.resync) AND finished_at IS NOT NULL") == 1 ? true : nil
            } ?? false
            server.signal(SIGCONT)
            frozen = nil
            cluster.reach(closedByOther
                ? "full re-read frozen mid-read, closed by the other instance before it woke"
                : "full re-read frozen mid-read, still open when it woke")
        } catch {
            frozen?.signal(SIGCONT)
            try? await cluster.control(.DELETE, "/faults", "{}")
            throw error
        }
    }

    /// Item 3: Nango starts a model over while our read of it is long under way: `drop` records vanish outright and
    /// never come as DELETED, and the webhook's `checkpoints.from` is null. Only a full re-read that started after the
    /// restart removes them, so convergence requires one, whichever run (the one in flight, a later one) asks for it.
    static func restartNangoMidRead(_ cluster: Cluster, _ integration: String, _ connection: String, _ model: String, drop: Int) async throws {
        try await cluster.control(.PUT, "/faults", #"{"latency_ms": 800}"#)
        do {
            // Changes for several pages of 50: a read of a few seconds.
            try await cluster.control(.POST, "/connections/\(connection)/changes", #"""
                {"provider_config_key": "\#(integration)", "model": "\#(model)", "add": 100, "update": 10}
                """#)
            let reading = await waitFor(.seconds(30)) { () -> Bool? in
                try await cluster.int("""
                    SELECT count(*)::int FROM jobs WHERE concurrency_key = 'sync:\(integration):\(connection):\(model)' AND status = 'running'
                    """) > 0 ? true : nil
            } ?? false
            try await cluster.control(.POST, "/connections/\(connection)/restart", #"""
                {"provider_config_key": "\#(integration)", "model": "\#(model)", "drop": \#(drop)}
                """#)
            cluster.reach(reading ? "Nango restarted during a read" : "Nango restarted with no read running")
            try await cluster.control(.DELETE, "/faults", "{}")
        } catch {
            try? await cluster.control(.DELETE, "/faults", "{}")
            throw error
        }
    }

    /// Item 4: a re-derive whose mapping change a client sees (first and last names swap in `display_name`, the
    /// contacts' sort key), stopped after its first page of 500 committed: the test holds a lock on the first row of
    /// its second page. While the write waits, each instance's page must be the database's (a page cached before the
    /// re-derive is stale unless its first page bumped the version); then the worker holding it is killed.
    static func killMidRederive(_ cluster: Cluster) async throws {
        let key = "rederive:hubspot-contacts:hubspot:chaos-h"
        let company = try await cluster.companyId("chaos-h")
        // Nothing else writes the model meanwhile: the only write to wait on the held row is the re-derive's.
        _ = await waitFor(.seconds(60)) { () -> Bool? in
            try await cluster.int("""
                SELECT count(*)::int FROM jobs WHERE concurrency_key IN ('sync:hubspot:chaos-h:Contact', 'full_resync:hubspot:chaos-h:Contact')
                  AND status IN ('queued', 'running', 'failed')
                """) == 0 ? true : nil
        }
        try cluster.swapContactNames()
        for index in 0..<2 {
            let (status, body) = try await cluster.admin("/api/admin/pipelines/reload", instance: index)
            #expect(status == 200, "instance \(index) reloaded the pipelines: \(body)")
        }
        _ = try await reads(cluster)   // each instance caches the page as it is before the re-derive
        let firstPage = "SELECT external_id FROM contacts WHERE company_id = '\(company)' AND deleted_at IS NULL ORDER BY display_name, id LIMIT 20"
        let cached = try await cluster.strings(firstPage)
        let ids = try await cluster.strings("""
            SELECT id::text FROM contacts WHERE company_id = '\(company)' AND source_model = 'Contact' AND deleted_at IS NULL ORDER BY id
            """)
        guard let held = ids.count > 500 ? ids[500] : ids.last else { return }
        try await Database.running(cluster.database) { database in
            let (locked, lockedSignal) = AsyncStream.makeStream(of: Int32.self)
            let (release, releaseSignal) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await database.withTransaction(logger: TestEnvironment.logger) { db in
                        try await db.query("SELECT 1 FROM contacts WHERE id = \(UUID(uuidString: held)!) FOR UPDATE", logger: TestEnvironment.logger)
                        let pid = try await db.query("SELECT pg_backend_pid()", logger: TestEnvironment.logger).collect()[0].decode(Int32.self)
                        lockedSignal.yield(pid)
                        for await _ in release { break }
                    }
                }
                defer { releaseSignal.finish() }
                var holder: Int32 = 0
                for await pid in locked { holder = pid; break }
                let (status, body) = try await cluster.admin("/api/admin/pipelines/hubspot-contacts/rederive?company_id=\(company)")
                #expect(status == 202, "re-derive asked for: \(body)")
                // Its job running, its earlier pages committed, its write waiting on the held row.
                let found = await waitFor(.seconds(60)) { () -> (instance: Int, rows: Int)? in
                    let rows = try await database.query("""
                        SELECT j.lease_owner, coalesce((SELECT fetched FROM pipeline_runs WHERE job_id = j.id ORDER BY id DESC LIMIT 1), 0)::int
                        FROM jobs j WHERE j.concurrency_key = \(key) AND j.status = 'running'
                          AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE \(holder) = ANY(pg_blocking_pids(a.pid)))
                        """, logger: TestEnvironment.logger)
                    guard let row = rows.first, let decoded = try? row.decode((String, Int).self),
                          let index = cluster.index(leaseOwner: decoded.0), decoded.1 >= (ids.count > 500 ? 500 : 0) else { return nil }
                    return (index, decoded.1)
                }
                guard let found else {
                    cluster.reach("re-derive: never seen waiting mid-way")
                    return
                }
                for read in try await reads(cluster) {
                    var read = read
                    read.path += " while a re-derive waits after \(found.rows) rows"
                    cluster.faultReads.withLock { $0.append(read) }
                }
                // Only a page the committed rows changed tells a fresh answer from the one cached before.
                let visible = try await cluster.strings(firstPage) != cached
                // The held row is let go only once the worker is dead: its write never commits.
                try await cluster.restartInstance(found.instance, signal: SIGKILL) { releaseSignal.finish() }
                cluster.reach((found.rows > 0 ? "re-derive killed after its first page" : "re-derive killed in its only page")
                    + (visible ? ", which changed the page a client reads" : ", the page a client reads unchanged"))
            }
        }
    }

    /// Polls `probe` (errors count as not yet) until it answers, for up to `timeout`.
    static func waitFor<T: Sendable>(_ timeout: Duration, _ probe: () async throws -> T?) async -> T? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let value = try? await probe() { return value }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }
}

extension ChaosTests.Cluster {
    /// Stops instance `index` with `signal` and starts it again; `whileDown` runs once it has exited.
    func restartInstance(_ index: Int, signal: Int32, whileDown: () -> Void = {}) async throws {
        guard let server = instance(index) else { return }
        instances.withLock { $0[index] = nil }
        server.signal(signal)
        #expect(await server.waitForExit(timeout: .seconds(30)) != nil, "instance \(index) exited on signal \(signal)")
        whileDown()
        try await Task.sleep(for: .seconds(1))
        try await startInstance(index)
    }

    /// The instance a job's lease names (`host:pid:tag`).
    func index(leaseOwner owner: String) -> Int? {
        guard let pid = owner.split(separator: ":").dropLast().last.flatMap({ Int32($0) }) else { return nil }
        return instances.withLock { servers in servers.firstIndex { $0?.pid == pid } }
    }

    func companyId(_ connection: String) async throws -> String {
        let ids = try await strings("SELECT id::text FROM companies WHERE connection_id = '\(connection)'")
        return try #require(ids.first, "a company for \(connection)")
    }

    /// An admin call on instance `instance` (else whichever is up): its status and body.
    func admin(_ path: String, instance index: Int? = nil) async throws -> (status: Int, body: String) {
        let candidate = if let index { instance(index) } else { instance(0) ?? instance(1) }
        let server = try #require(candidate, "an instance is up")
        var request = HTTPClientRequest(url: "\(server.baseURL)\(path)")
        request.method = .POST
        request.headers.add(name: "X-Admin-Token", value: TestEnvironment.values()["ADMIN_TOKEN"]!)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    /// Swaps first and last name in the contacts' `display_name`: a change each re-derive applies to every row.
    func swapContactNames() throws {
        let forward = "display_name: { join: [firstName, lastName], separator: \" \" }"
        let swapped = "display_name: { join: [lastName, firstName], separator: \" \" }"
        let text = try String(contentsOfFile: pipelinesFile, encoding: .utf8)
        let changed = text.contains(forward) ? text.replacingOccurrences(of: forward, with: swapped) : text.replacingOccurrences(of: swapped, with: forward)
        #expect(changed != text, "the hubspot-contacts mapping is where the suite expects it")
        try changed.write(toFile: pipelinesFile, atomically: true, encoding: .utf8)
    }

    func reach(_ note: String) { reached.withLock { $0[note, default: 0] += 1 } }
}
