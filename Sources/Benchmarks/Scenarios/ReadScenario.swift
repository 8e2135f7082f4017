import Foundation
import JWTKit
import MarketplaceCore
import NIOCore
import NIOHTTP1
import Tokens

/// The contacts the syncs left (1,000,000 rows for one company when the large sync ran), read through the API
/// by a server with no workers: a cached page under wrk (as is, and gzip-compressed for a client that accepts it) against
/// `GET /health` of the same server (alternating), 200 distinct
/// pages that all miss, and a keyset walk of the whole table (the last tenth of the pages against the first).
enum ReadScenario {
    static func run(_ run: BenchRun, bare: Ceiling, staticDocument: Ceiling) async throws -> [Row] {
        progress("API reads")
        let server = try await run.startServer(port: run.settings.basePort + 4, ["NANGO_BASE_URL": "http://127.0.0.1:9", "WORKER_COUNT": "0"])
        let authorization = ("Authorization", "Bearer " + (try await adminToken(secret: run.settings.jwtSecret)))
        let company = try await run.tools.sql("SELECT company_id FROM contacts GROUP BY company_id ORDER BY count(*) DESC LIMIT 1")
        let rowCount = try await run.tools.sqlInt("SELECT count(*) FROM contacts WHERE company_id = '\(company)'")
        let contacts = server.baseURL + "/api/companies/\(company)/contacts"

        let warm = try await run.http.expectOK(contacts + "?limit=50", headers: [authorization])
        // The bench's HTTP client does not inflate: this is the size on the wire.
        let warmGzip = try await run.http.expectOK(contacts + "?limit=50", headers: [authorization, ("Accept-Encoding", "gzip")])
        guard warmGzip.headers["Content-Encoding"].first == "gzip" else { throw BenchFailure("a client accepting gzip was sent the page uncompressed") }
        // `GET /health` of this same server in alternating rounds: the ceiling measured beside the page, not half an hour
        // before it in another scenario. The page twice: as a client that accepts no coding reads it (wrk's default), and
        // as most clients do (browsers, curl --compressed, URLSession, Go, Python requests send `Accept-Encoding: gzip`).
        let (tools, page, healthURL, header) = (run.tools, contacts + "?limit=50", server.baseURL + "/health", "\(authorization.0): \(authorization.1)")
        let alternated = try await Alternated(rounds: 5, [
            { try await tools.wrk(page, headers: [header]) }, { try await tools.wrk(page, headers: [header, "Accept-Encoding: gzip"]) },
            { try await tools.wrk(healthURL) },
        ])
        let wrk = alternated.medians[0]
        let cached = Quantity.rate(wrk.requestsPerSecond, "req/s")
        let cachedGzip = Quantity.rate(alternated.medians[1].requestsPerSecond, "req/s")
        let health = Ceiling(name: "`GET /health` of the same server, alternating", quantity: .rate(alternated.medians[2].requestsPerSecond, "req/s"))
        func share(_ ceiling: Ceiling) -> String { String(format: "%.0f%%", cached.value / ceiling.quantity.value * 100) }
        // Only when the HTTP scenario ran (`BENCH_ONLY`).
        let beside = bare.quantity.value > 0 && staticDocument.quantity.value > 0
            ? "; \(share(bare)) of bare Hummingbird and \(share(staticDocument)) of `GET /openapi.json` (static 67 KB), both from the HTTP scenario" : ""

        // Each limit is a page of its own, so every one misses the cache.
        var uncached: [Duration] = []
        for limit in 101...300 { uncached.append(try await run.http.expectOK(contacts + "?limit=\(limit)&sort=name", headers: [authorization]).elapsed) }
        uncached.sort()

        // Each cursor is new, so nothing on the walk is cached.
        var walk: [Duration] = []
        var cursor: String?
        repeat {
            let query = "?limit=500&sort=name" + (cursor.map { "&cursor=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? "")
            let page = try await run.http.expectOK(contacts + query, headers: [authorization])
            walk.append(page.elapsed)
            cursor = try JSONValue.parse(page.body.readableBytesView)["next_cursor"]?.string
        } while cursor != nil
        await server.stop()

        let first = Quantity.milliseconds(walk[0])
        let lastTenth = walk.suffix(max(1, walk.count / 10)).sorted()
        let deep = Quantity.milliseconds(lastTenth[(lastTenth.count - 1) / 2])
        return [
            Row(section: .reads, name: "cached page (limit 50, \(warm.body.readableBytes) bytes), \(run.settings.connections) connections",
                figure: .quantity(cached), ceiling: health, target: .shareAtLeast(60),
                note: "\(alternated.note(0)); `/health` \(alternated.note(2)); \(wrk.latencies)" + beside),
            Row(section: .reads, name: "cached page as above, client accepting gzip (\(warmGzip.body.readableBytes) bytes on the wire), \(run.settings.connections) connections",
                figure: .quantity(cachedGzip), ceiling: health, target: .shareAtLeast(60),
                note: "\(alternated.note(1)); \(alternated.medians[1].latencies); the gzip form is made once per body and kept by its ETag"),
            Row(section: .reads, name: "uncached pages (limit 101–300 by name, \(rowCount) rows), one client",
                figure: .text("p50 \(Quantity.milliseconds(uncached[uncached.count / 2]).text), p99 \(Quantity.milliseconds(uncached[uncached.count * 99 / 100]).text)")),
            Row(section: .reads, name: "keyset walk by name, 500 a page, \(walk.count) pages of \(rowCount) rows: median of the last tenth",
                figure: .quantity(deep), ceiling: Ceiling(name: "first page", quantity: first), target: .timesAtMost(1.5)),
        ]
    }

    /// An admin-scoped API token for the reads, signed as the server signs its own.
    static func adminToken(secret: String) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(APIClaims(subject: "bench", expiresAt: Date().addingTimeInterval(3600), companyId: nil, scope: "admin"))
    }
}
