import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MarketplaceCore
import Nango
import NIOCore
import NIOHTTP1
import Testing
import TestSupport

@testable import NangoEmulator

/// `GET /sync/status` (docs/nango.md §2.12): the client against Nango's answer as its source builds it, the emulator
/// against the same shape, record counts, late commits behind the cursor and the status control.
@Suite(.timeLimit(.minutes(10))) struct SyncStatusTests {
    /// Written by hand from `ReportedSyncJobStatus` (`packages/types/lib/sync/index.ts`) and the object
    /// `syncManager.syncStatus` returns, serialised as Express does (`JSON.stringify`: dates as `toISOString()`,
    /// `undefined` fields left out): a sync after a successful run with a checkpoint, one whose run is under way
    /// (no `finishedAt`, a failed-early `{}` result), and one that never ran (no job: no `finishedAt`, no
    /// `latestResult`, no `latestExecutionStatus`; paused, so no next date).
    static let fixture = #"""
        {"syncs":[{"id":"5c1f8a3e-0b7d-4e51-9a2c-7d3e6f1b2a90","connection_id":"user-123","type":"INCREMENTAL","finishedAt":"2026-05-01T10:00:07.412Z","nextScheduledSyncAt":"2026-05-01T11:00:00.000Z","name":"customers","variant":"base","status":"SUCCESS","frequency":"every hour","latestResult":{"Customer":{"added":2,"updated":1,"deleted":0}},"latestExecutionStatus":"SUCCESS","recordCount":{"Customer":202},"checkpoint":{"updated_after":"2026-05-01T02:59:00-07:00"}},{"id":"9e2d4b6a-3c1f-4a8e-b7d5-0f9a8c7e6d54","connection_id":"user-123","type":"INITIAL","nextScheduledSyncAt":"2026-05-01T10:05:00.000Z","name":"items","variant":"base","status":"RUNNING","frequency":null,"latestResult":{},"latestExecutionStatus":"RUNNING","recordCount":{"Item":0},"checkpoint":null},{"id":"0a7b3c9d-5e2f-4b1a-8c6d-e4f3a2b1c0d9","connection_id":"user-123","type":"INITIAL","nextScheduledSyncAt":null,"name":"invoices","variant":"eu","status":"PAUSED","frequency":"every 5 minutes","recordCount":{"Invoice":0},"checkpoint":null}]}
        """#

    static let fixtureKeys: Set<String> = [
        "id", "connection_id", "type", "finishedAt", "nextScheduledSyncAt", "name", "variant", "status", "frequency",
        "latestResult", "latestExecutionStatus", "recordCount", "checkpoint",
    ]

    static func control(_ baseURL: String, _ method: HTTPMethod, _ path: String, _ body: String) async throws -> (status: UInt, json: JSONValue) {
        var request = HTTPClientRequest(url: "\(baseURL)/_emulator\(path)")
        request.method = method
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, try JSONValue.parse(bytes.readableBytesView))
    }

    /// `GET /sync/status` raw: status and body.
    static func rawStatus(_ baseURL: String, query: String, authorized: Bool = true) async throws -> (status: UInt, body: String) {
        var request = HTTPClientRequest(url: "\(baseURL)/sync/status?\(query)")
        if authorized { request.headers.add(name: "Authorization", value: "Bearer \(EmulatorHarness.secretKey)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        return (response.status.code, String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test func theClientDecodesNangosAnswer() async throws {
        let queries = QueryLog()
        let router = Router()
        router.get("/sync/status") { request, _ -> Response in
            await queries.add(request.uri.query ?? "")
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: Self.fixture)))
        }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { server in
            let client = EmulatorHarness.client("http://127.0.0.1:\(server.port!)")
            let syncs = try await client.syncStatus(providerConfigKey: "quickbooks", connectionId: "user-123")
            try #require(syncs.count == 3)
            #expect(syncs[0] == NangoSyncStatus(
                id: "5c1f8a3e-0b7d-4e51-9a2c-7d3e6f1b2a90", connectionId: "user-123", name: "customers", variant: "base",
                status: .success, type: "INCREMENTAL", finishedAt: "2026-05-01T10:00:07.412Z",
                nextScheduledSyncAt: "2026-05-01T11:00:00.000Z", frequency: "every hour",
                latestResult: ["Customer": .init(added: 2, updated: 1, deleted: 0)], latestExecutionStatus: .success,
                recordCount: ["Customer": 202], checkpoint: ["updated_after": "2026-05-01T02:59:00-07:00"]))
            #expect(syncs[1].status == .running && syncs[1].finishedAt == nil && syncs[1].latestResult == [:])
            #expect(syncs[1].frequency == nil && syncs[1].checkpoint == nil && syncs[1].recordCount == ["Item": 0])
            #expect(syncs[2].status == .paused && syncs[2].variant == "eu" && syncs[2].nextScheduledSyncAt == nil)
            #expect(syncs[2].latestResult == nil && syncs[2].latestExecutionStatus == nil && syncs[2].finishedAt == nil)
            _ = try await client.syncStatus(providerConfigKey: "quickbooks", connectionId: "a+b", syncs: ["customers", "items::eu"])
            // `*` for every sync; reserved characters percent-encoded, `+` included (docs/nango.md §2.1).
            #expect(await queries.all == [
                "provider_config_key=quickbooks&syncs=%2A&connection_id=user-123",
                "provider_config_key=quickbooks&syncs=customers%2Citems%3A%3Aeu&connection_id=a%2Bb",
            ])
        }
        // A status this code does not know still decodes.
        let unknown = try JSONDecoder().decode(NangoSyncStatus.self, from: Data(#"{"status":"QUEUED"}"#.utf8))
        #expect(unknown.status.rawValue == "QUEUED" && unknown.recordCount == nil)
    }

    @Test func theEmulatorAnswersInNangosShape() async throws {
        try await EmulatorHarness.run(records: 50) { _, url in
            let raw = try await Self.rawStatus(url, query: "provider_config_key=quickbooks&syncs=*&connection_id=demo-quickbooks")
            #expect(raw.status == 200)
            let json = try JSONValue.parse(Array(raw.body.utf8))
            guard case .array(let syncs)? = json["syncs"] else { Issue.record("no syncs: \(raw.body)"); return }
            try #require(syncs.count == 2)
            for sync in syncs {
                #expect(Set(sync.object?.keys.map { $0 } ?? []) == Self.fixtureKeys, "\(sync)")
            }
            let client = EmulatorHarness.client(url)
            let all = try await client.syncStatus(providerConfigKey: "quickbooks", connectionId: "demo-quickbooks")
            #expect(all.map(\.name) == ["customers", "items"])
            let customers = all[0]
            #expect(customers.status == .success && customers.latestExecutionStatus == .success)
            #expect(customers.connectionId == "demo-quickbooks" && customers.variant == "base" && customers.type == "INITIAL")
            #expect(customers.recordCount == ["Customer": 50])
            #expect(customers.latestResult == ["Customer": .init(added: 50)], "the initial run saved every record")
            #expect(customers.frequency == "every hour" && customers.checkpoint == nil)
            #expect(UUID(uuidString: customers.id ?? "") != nil)
            let finished = try #require(customers.finishedAt.flatMap { try? Date($0, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) })
            let next = try #require(customers.nextScheduledSyncAt.flatMap { try? Date($0, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) })
            #expect(next > Date() && next.timeIntervalSince(finished) <= 3600.001)
            // Named syncs only; names and variants Nango does not have are left out, not refused.
            let named = try await client.syncStatus(providerConfigKey: "quickbooks", connectionId: "demo-quickbooks", syncs: ["items", "nope", "customers::eu"])
            #expect(named.map(\.name) == ["items"])
            #expect(try await client.syncStatus(providerConfigKey: "hubspot", connectionId: "demo-hubspot", syncs: ["products"]).first?.frequency == "every 5 minutes")
        }
    }

    @Test func recordCountFollowsAddsAndDeletesAndIgnoresPruning() async throws {
        try await EmulatorHarness.run(records: 20) { emulator, url in
            let client = EmulatorHarness.client(url)
            func contacts() async throws -> NangoSyncStatus {
                try #require(try await client.syncStatus(providerConfigKey: "xero", connectionId: "demo-xero", syncs: ["contacts"]).first)
            }
            let before = try await contacts()
            try await Task.sleep(for: .milliseconds(5))
            _ = try await Self.control(url, .POST, "/connections/demo-xero/changes", #"{"provider_config_key": "xero", "model": "Contact", "add": 5, "update": 2, "delete": 3}"#)
            let changed = try await contacts()
            #expect(changed.recordCount == ["Contact": 22])
            #expect(changed.latestResult == ["Contact": .init(added: 5, updated: 2, deleted: 3)])
            #expect(changed.type == "INITIAL", "the first change set is the run its webhook calls INITIAL")
            #expect(try #require(changed.finishedAt) > (before.finishedAt ?? ""), "finishedAt moves with the run")
            let stream = try #require(await emulator.state.stream("demo-xero", integration: "xero", model: "Contact"))
            #expect(stream.liveIds().count == 22)

            // Pruning empties payloads and leaves the count alone.
            let pruned = try await Self.control(url, .POST, "/connections/demo-xero/prune", #"{"provider_config_key": "xero", "model": "Contact"}"#)
            #expect(pruned.json["pruned"] == .number(22))
            #expect(try await contacts().recordCount == ["Contact": 22])
            // A hard delete removes rows, and Nango's count with them.
            _ = try await Self.control(url, .POST, "/connections/demo-xero/hard-delete", #"{"provider_config_key": "xero", "model": "Contact", "count": 4}"#)
            let afterHard = try await contacts()
            #expect(afterHard.recordCount == ["Contact": 18])
            #expect(afterHard.latestResult == changed.latestResult && afterHard.finishedAt == changed.finishedAt, "no run")
            let second = try await Self.control(url, .POST, "/connections/demo-xero/changes", #"{"provider_config_key": "xero", "model": "Contact", "delete": 1}"#)
            #expect(second.status == 200)
            let last = try await contacts()
            #expect(last.recordCount == ["Contact": 17] && last.type == "INCREMENTAL")
            // The other sync of the connection is untouched.
            #expect(try await client.syncStatus(providerConfigKey: "xero", connectionId: "demo-xero", syncs: ["items"]).first?.recordCount == ["Item": 20])
        }
    }

    /// Late commits: added behind every cursor, so an incremental reader moves on without them and a read from no
    /// cursor finds them; Nango counts them all the same.
    @Test func lateRecordsAreSkippedByIncrementalReadsAndServedByFullReads() async throws {
        try await EmulatorHarness.run(records: 10) { _, url in
            let client = EmulatorHarness.client(url)
            let query = NangoRecordsQuery(connectionId: "demo-hubspot", providerConfigKey: "hubspot", model: "Company", limit: 4)
            let first = try await EmulatorHarness.allRecords(client, query)
            let checkpoint = try #require(first.last?.metadata.cursor)
            let since = Date()
            #expect(first.count == 10)
            let refused = try await Self.control(url, .POST, "/connections/demo-hubspot/changes", #"{"provider_config_key": "hubspot", "model": "Company", "add": 1, "late": 2}"#)
            #expect(refused.status == 400)
            let applied = try await Self.control(url, .POST, "/connections/demo-hubspot/changes", #"{"provider_config_key": "hubspot", "model": "Company", "add": 3, "update": 1, "late": 2}"#)
            #expect(applied.json["responseResults"]?["added"] == .number(3), "the run added all three")

            var incremental = query
            incremental.cursor = checkpoint
            let changes = try await EmulatorHarness.allRecords(client, incremental)
            #expect(changes.count == 2, "one on-time addition and one update")
            // A read by `modified_after` is incremental too: even from a week back (before the late records' time) it
            // returns every record but them.
            var byTime = query
            byTime.modifiedAfter = since.addingTimeInterval(-7 * 86_400)
            #expect(Set(try await EmulatorHarness.allRecords(client, byTime).map(\.id)) == Set(first.map(\.id) + changes.map(\.id)))
            // The incremental reader has moved past them: resuming finds nothing more, ever.
            incremental.cursor = try #require(changes.last?.metadata.cursor)
            #expect(try await client.recordsPage(incremental) == NangoRecordsPage(records: [], nextCursor: nil))

            // A full read, paged by its own cursors, finds all 13.
            let full = try await EmulatorHarness.allRecords(client, query)
            #expect(Set(full.map(\.id)).count == 13 && full.count == 13)
            let late = Set(full.map(\.id)).subtracting(first.map(\.id)).subtracting(changes.map(\.id))
            #expect(late.count == 2)
            #expect(full.prefix(2).allSatisfy { late.contains($0.id) && $0.metadata.lastAction == .added }, "behind every other record")
            #expect(try await client.syncStatus(providerConfigKey: "hubspot", connectionId: "demo-hubspot", syncs: ["companies"]).first?.recordCount == ["Company": 13])
            let state = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(url)/_emulator/state"), timeout: .seconds(5))
            let summary = try JSONValue.parse(try await state.body.collect(upTo: 1 << 20).readableBytesView)
            guard case .array(let connections)? = summary["connections"] else { Issue.record("no connections"); return }
            let hubspot = connections.first { $0["connection_id"]?.string == "demo-hubspot" }
            #expect(hubspot?["late_records"] == .object(["Contact": 0, "Company": 2, "Product": 0]))
        }
    }

    @Test func theStatusControlSetsWhatNangoReports() async throws {
        try await EmulatorHarness.run(records: 5) { _, url in
            let client = EmulatorHarness.client(url)
            func customers() async throws -> NangoSyncStatus {
                try #require(try await client.syncStatus(providerConfigKey: "quickbooks", connectionId: "demo-quickbooks", syncs: ["customers"]).first)
            }
            let path = "/connections/demo-quickbooks/syncs"
            let running = try await Self.control(url, .PUT, path, #"{"provider_config_key": "quickbooks", "model": "Customer", "status": "RUNNING"}"#)
            #expect(running.status == 200 && running.json["status"] == "RUNNING" && running.json["finishedAt"] == nil)
            var status = try await customers()
            #expect(status.status == .running && status.latestExecutionStatus == .running && status.finishedAt == nil)
            #expect(status.nextScheduledSyncAt != nil)

            _ = try await Self.control(url, .PUT, path, #"{"provider_config_key": "quickbooks", "model": "Customer", "status": "SUCCESS", "finished_at": "2026-05-01T12:00:00+02:00"}"#)
            status = try await customers()
            #expect(status.status == .success && status.finishedAt == "2026-05-01T10:00:00.000Z")

            _ = try await Self.control(url, .PUT, path, #"{"provider_config_key": "quickbooks", "model": "Customer", "status": "PAUSED"}"#)
            status = try await customers()
            #expect(status.status == .paused && status.nextScheduledSyncAt == nil && status.finishedAt == "2026-05-01T10:00:00.000Z")
            // A run while paused: its job succeeds, the schedule stays paused, as Nango classifies them.
            _ = try await Self.control(url, .POST, "/connections/demo-quickbooks/changes", #"{"provider_config_key": "quickbooks", "model": "Customer", "add": 1}"#)
            status = try await customers()
            #expect(status.status == .paused && status.latestResult == ["Customer": .init(added: 1)] && status.finishedAt != "2026-05-01T10:00:00.000Z")

            _ = try await Self.control(url, .PUT, path, #"{"provider_config_key": "quickbooks", "model": "Customer", "status": "STOPPED"}"#)
            #expect(try await customers().status == .stopped)
            // A failed run: its job STOPPED, reported ERROR once the schedule runs, with an empty result.
            _ = try await Self.control(url, .PUT, path, #"{"provider_config_key": "quickbooks", "model": "Customer", "status": "SUCCESS"}"#)
            _ = try await Self.control(url, .POST, "/connections/demo-quickbooks/sync-failure", #"{"provider_config_key": "quickbooks", "sync": "customers"}"#)
            status = try await customers()
            #expect(status.status == .error && status.latestExecutionStatus == .stopped && status.latestResult == [:])
            #expect(status.recordCount == ["Customer": 6])

            let bad = try await Self.control(url, .PUT, path, #"{"provider_config_key": "quickbooks", "model": "Customer", "status": "DONE"}"#)
            #expect(bad.status == 400)
            let badTime = try await Self.control(url, .PUT, path, #"{"provider_config_key": "quickbooks", "model": "Customer", "status": "SUCCESS", "finished_at": "yesterday"}"#)
            #expect(badTime.status == 400)
            let unknown = try await Self.control(url, .PUT, "/connections/nobody/syncs", #"{"provider_config_key": "quickbooks", "model": "Customer", "status": "SUCCESS"}"#)
            #expect(unknown.status == 404)
        }
    }

    @Test func anUnknownConnectionAndABadQueryAreNangos400s() async throws {
        try await EmulatorHarness.run(records: 5) { _, url in
            let missing = try await Self.rawStatus(url, query: "provider_config_key=xero&syncs=*&connection_id=nobody")
            #expect(missing.status == 400)
            #expect(missing.body == #"{"error":{"code":"invalid_body","message":"Connection not found"}}"#)
            // The connection exists, under another integration.
            #expect(try await Self.rawStatus(url, query: "provider_config_key=hubspot&syncs=*&connection_id=demo-xero").status == 400)
            await #expect(throws: NangoError.notFound(code: "invalid_body", message: "Connection not found")) {
                try await EmulatorHarness.client(url).syncStatus(providerConfigKey: "xero", connectionId: "nobody")
            }
            let noSyncs = try await Self.rawStatus(url, query: "provider_config_key=xero&connection_id=demo-xero")
            #expect(noSyncs.status == 400 && noSyncs.body.contains(#""code":"invalid_query_params""#) && noSyncs.body.contains(#""path":["syncs"]"#))
            let unknownKey = try await Self.rawStatus(url, query: "provider_config_key=xero&syncs=*&model=Contact")
            #expect(unknownKey.status == 400 && unknownKey.body.contains("unrecognized_keys"))
            #expect(try await Self.rawStatus(url, query: "provider_config_key=xero&syncs=*", authorized: false).status == 401)
            // Without a connection: every connection of the integration.
            let every = try await Self.rawStatus(url, query: "provider_config_key=xero&syncs=contacts")
            #expect(every.status == 200 && every.body.contains(#""connection_id":"demo-xero""#))
            #expect(try await Self.rawStatus(url, query: "provider_config_key=nothing&syncs=*").body == #"{"syncs":[]}"#)
        }
    }
}

actor QueryLog {
    private(set) var all: [String] = []
    func add(_ query: String) { all.append(query) }
}
