import AsyncHTTPClient
import Foundation
import JWTKit
import MarketplaceCore
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import TestSupport
import Tokens

@testable import Server

extension ChaosTests {
    /// A client of `GET /api/changes` as docs/changes.md describes one: it took `after=now` and read every row before
    /// round 1, then follows through every fault (long polls on either instance, another try on any failure) and
    /// applies each change to its copy. After each round its copy must be the database's rows, none missing, none extra.
    final class FeedFollower: Sendable {
        /// The copy: "resource/id" → the row as the API renders it.
        let rows = Mutex<[String: JSONValue]>([:])
        let cursor = Mutex("")
        /// Reads that found nothing more to read, counted: a read that began after a point in time has seen everything
        /// committed and readable before it.
        let caughtUp = Atomic<Int>(0)
        let applied = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let stopped = Atomic<Bool>(false)
        let task = Mutex<Task<Void, Never>?>(nil)
        let token: String

        init(token: String) {
            self.token = token
        }

        /// An admin-scope token for the all-company feed.
        static func adminToken() async throws -> String {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: TestEnvironment.values()["JWT_SECRET"]!), digestAlgorithm: .sha256)
            return try await keys.sign(APIClaims(subject: "chaos-feed", expiresAt: Date().addingTimeInterval(3 * 3600), companyId: nil, scope: "admin"))
        }

        /// The database's rows as the lists render them (the company's sync bookkeeping left out: it is no change).
        static func truth(_ cluster: Cluster) async throws -> [String: JSONValue] {
            let rendered = try await cluster.strings("""
                SELECT 'companies/' || id || '|' || (to_jsonb(t) - 'raw' - 'content_hash' - 'connection_metadata' - 'token_generation'
                    - 'change_xid' - 'last_synced_at' - 'source_updated_at')::text FROM companies t
                UNION ALL SELECT 'contacts/' || id || '|' || (to_jsonb(t) - 'content_hash' - 'change_xid' - 'company_id' - 'source_model' - 'raw')::text FROM contacts t
                UNION ALL SELECT 'locations/' || id || '|' || (to_jsonb(t) - 'content_hash' - 'change_xid' - 'company_id' - 'source_model' - 'raw')::text FROM locations t
                UNION ALL SELECT 'products/' || id || '|' || (to_jsonb(t) - 'content_hash' - 'change_xid' - 'company_id' - 'source_model' - 'raw')::text FROM products t
                """)
            var rows: [String: JSONValue] = [:]
            for line in rendered {
                guard let bar = line.firstIndex(of: "|") else { continue }
                rows[String(line[..<bar])] = try JSONValue.parse(Array(line[line.index(after: bar)...].utf8))
            }
            return rows
        }

        static func withoutBookkeeping(_ row: JSONValue) -> JSONValue {
            guard case .object(var fields) = row, fields["connection_id"] != nil else { return row }
            fields["last_synced_at"] = nil
            fields["source_updated_at"] = nil
            return .object(fields)
        }

        /// `after=now`, then every row: the protocol's first two steps.
        func start(_ cluster: Cluster) async throws {
            let server = try #require(cluster.instance(0))
            let now = try await get("\(server.baseURL)/api/changes?after=now")
            cursor.withLock { $0 = now.cursor ?? "" }
            #expect(!(now.cursor ?? "").isEmpty, "after=now answered a cursor")
            let initial = try await Self.truth(cluster)
            rows.withLock { $0 = initial }
        }

        func run(_ cluster: Cluster) {
            let owner = self
            task.withLock { $0 = Task {
                var attempt = 0
                while !owner.stopped.load(ordering: .relaxed) {
                    attempt += 1
                    guard let server = cluster.instance(attempt % 2) else { try? await Task.sleep(for: .milliseconds(100)); continue }
                    let after = owner.cursor.withLock { $0 }
                    do {
                        let page = try await owner.get("\(server.baseURL)/api/changes?after=\(after)&limit=1000&wait=1")
                        guard let next = page.cursor else { throw CancellationError() }
                        owner.rows.withLock { rows in
                            for change in page.changes {
                                guard let resource = change["resource"]?.string, let id = change["resource_id"]?.string,
                                      let data = change["data"] else { continue }
                                rows["\(resource)/\(id)"] = Self.withoutBookkeeping(data)
                            }
                        }
                        owner.applied.add(page.changes.count, ordering: .relaxed)
                        owner.cursor.withLock { $0 = next }
                        if !page.hasMore, page.changes.isEmpty { owner.caughtUp.add(1, ordering: .relaxed) }
                        attempt -= 1   // the same instance again while it answers
                    } catch {
                        owner.failures.add(1, ordering: .relaxed)
                        try? await Task.sleep(for: .milliseconds(200))
                    }
                }
            } }
        }

        func stop() async {
            stopped.store(true, ordering: .relaxed)
            await task.withLock { $0 }?.value
        }

        /// After a round: once every change written is readable, two reads that found nothing more, then the copy beside
        /// the database (again after another caught-up read if a write landed meanwhile). The differences, if any.
        func check(_ cluster: Cluster) async throws -> [String] {
            var problems: [String] = []
            for _ in 0..<3 {
                _ = await ChaosTests.waitFor(.seconds(60)) { () -> Bool? in
                    try await cluster.int("SELECT count(*)::int FROM changes WHERE xid >= (SELECT change_log_bound())") == 0 ? true : nil
                }
                let mark = caughtUp.load(ordering: .relaxed)
                _ = await ChaosTests.waitFor(.seconds(60)) { () -> Bool? in self.caughtUp.load(ordering: .relaxed) >= mark + 2 ? true : nil }
                let truth = try await Self.truth(cluster)
                let held = rows.withLock { $0 }
                let missing = Set(truth.keys).subtracting(held.keys), extra = Set(held.keys).subtracting(truth.keys)
                let differing = truth.keys.filter { held[$0] != nil && held[$0] != truth[$0] }
                problems = []
                if !missing.isEmpty { problems.append("\(missing.count) rows missing from the feed's copy, e.g. \(missing.sorted().first!)") }
                if !extra.isEmpty { problems.append("\(extra.count) rows only in the feed's copy, e.g. \(extra.sorted().first!)") }
                if let first = differing.sorted().first {
                    problems.append("\(differing.count) rows differ, e.g. \(first): \(held[first]!.jsonText) vs \(truth[first]!.jsonText)")
                }
                if problems.isEmpty { return [] }
            }
            return problems
        }

        struct Page {
            var changes: [JSONValue]
            var cursor: String?
            var hasMore: Bool
        }

        func get(_ url: String) async throws -> Page {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
            let body = try await response.body.collect(upTo: 64 << 20)
            guard response.status == .ok else { throw CancellationError() }
            let page = try JSONValue.parse(Array(body.readableBytesView))
            guard case .array(let changes)? = page["data"] else { throw CancellationError() }
            return Page(changes: changes, cursor: page["next_cursor"]?.string, hasMore: page["has_more"] == .bool(true))
        }
    }
}
