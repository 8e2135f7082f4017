/// The service's own HTTP endpoints under wrk, beside two ceilings from the same run: the same Hummingbird with
/// one route and no middleware (`bare-ceiling`), and pgbench running readiness's query.
enum HTTPScenario {
    struct Result {
        var rows: [Row] = []
        /// `GET /health` through every middleware: the ceiling of every other figure the service answers.
        /// Until measured (`BENCH_ONLY` without `http`), each reads "not measured in this run".
        var health = Ceiling(name: "`GET /health`", quantity: .rate(0, "req/s"))
        var bare = Ceiling(name: "bare Hummingbird", quantity: .rate(0, "req/s"))
        var staticDocument = Ceiling(name: "`GET /openapi.json`", quantity: .rate(0, "req/s"))
    }

    static func run(_ run: BenchRun, server: Spawned) async throws -> Result {
        var result = Result()
        func load(_ path: String) async throws -> (Quantity, String) {
            let wrk = try await run.tools.wrk(server.baseURL + path)
            return (.rate(wrk.requestsPerSecond, "req/s"), wrk.latencies)
        }

        let bareServer = try await Spawned.start(
            run.settings.binary("bare-ceiling"), arguments: ["\(run.settings.basePort + 9)"], port: run.settings.basePort + 9,
            readyPath: "/health", settings: run.settings, http: run.http)
        let (tools, serviceURL, bareURL) = (run.tools, server.baseURL + "/health", bareServer.baseURL + "/health")
        let alternated = try await Alternated(rounds: 5, [{ try await tools.wrk(serviceURL) }, { try await tools.wrk(bareURL) }])
        await bareServer.stop()
        func described(_ index: Int) -> (Quantity, String) {
            let wrk = alternated.medians[index]
            return (.rate(wrk.requestsPerSecond, "req/s"), "\(alternated.note(index)); \(wrk.latencies)")
        }
        let (health, healthNote) = described(0), (bare, bareNote) = described(1)
        result.health = Ceiling(name: "`GET /health`", quantity: health)
        result.bare = Ceiling(name: "bare Hummingbird", quantity: bare)

        result.rows.append(Row(
            section: .http, name: "`GET /health`, every middleware (request id, access log, metrics, security headers)",
            figure: .quantity(health), ceiling: Ceiling(name: "bare Hummingbird, one route, no middleware", quantity: bare),
            target: .shareAtLeast(92), note: healthNote))
        result.rows.append(Row(section: .http, name: "bare Hummingbird `GET /health` (`bare-ceiling`)", figure: .quantity(bare), note: bareNote))

        for (path, what) in [("/health/live", "same work as `/health`"), ("/health/detailed", "Postgres + Redis PING per request"),
                             ("/metrics", "Prometheus text + Redis PING")] {
            let (rate, note) = try await load(path)
            result.rows.append(Row(section: .http, name: "`GET \(path)` (\(what))", figure: .quantity(rate), ceiling: result.health, note: note))
        }

        let (ready, readyNote) = try await load("/health/ready")
        let readyQuery = try await run.tools.pgbench(sql: "SELECT version, checksum FROM schema_migrations;\n", name: "ready", clients: 20)
        result.rows.append(Row(
            section: .http, name: "`GET /health/ready` (Postgres: migration status per request)", figure: .quantity(ready),
            ceiling: Ceiling(name: "pgbench, the same query, 20 connections", quantity: .rate(readyQuery, "tps")), note: readyNote))

        let (document, documentNote) = try await load("/openapi.json")
        result.staticDocument = Ceiling(name: "`GET /openapi.json`", quantity: document)
        result.rows.append(Row(
            section: .http, name: "`GET /openapi.json` (a 67 KB answer built once: the cost of a large body)", figure: .quantity(document),
            ceiling: result.health, note: documentNote))
        return result
    }
}
