import Foundation
import MarketplaceCore

/// Everything the emulator holds: connections, their record streams, connect sessions and faults.
actor EmulatorState {
    struct ConnectSession: Sendable {
        var endUser: JSONValue?
        var tags: [String: String]?
        var allowedIntegrations: [String]?
        var expiresAt: Timestamp
        /// A reconnect session (`POST /connect/sessions/reconnect`): the Connect UI re-authorises this connection
        /// (Nango's `override`) instead of creating one.
        var reconnecting: String? = nil
    }

    let seed: UInt64
    let recordsPerModel: Int
    let initialStart: Timestamp
    private(set) var connections: [String: EmulatedConnection] = [:]   // key: "<integration>/<connection id>"
    private var streams: [String: RecordStream] = [:]                   // key: "<integration>/<connection id>/<model>"
    private var sessions: [String: ConnectSession] = [:]
    private var nextConnectionID = 1
    private var clock = Timestamp(micros: 0)
    private var generator: SeededGenerator
    var faults = Faults()
    /// `GET /records` calls answered or refused, for tests that must prove a path never asked Nango.
    private(set) var recordsRequests = 0

    func countRecordsRequest() { recordsRequests += 1 }
    /// Calls refused with 429 because the window was full.
    private(set) var rateLimitedAnswers = 0
    /// Nango's fixed window per account (60 s, docs/nango.md §2.2); the limit is a flag, and the control API
    /// sets both so a test can meet a window's end within seconds.
    private(set) var rateLimit: (limit: Int, windowMillis: Int64)
    private var window: (start: Int64, count: Int) = (0, 0)

    init(seed: UInt64, recordsPerModel: Int, rateLimitPerMinute: Int = 100_000) {
        self.rateLimit = (rateLimitPerMinute, 60_000)
        self.seed = seed
        self.recordsPerModel = recordsPerModel
        // Initial records sit a day back: inside Nango's 12-month `modified_after` window, before any change.
        self.initialStart = Timestamp(micros: Timestamp.now.micros - 86_400_000_000)
        self.generator = SeededGenerator(seed: seed, "state")
    }

    static func key(_ integration: String, _ connectionId: String) -> String { "\(integration)/\(connectionId)" }

    func connection(_ connectionId: String, integration: String) -> EmulatedConnection? {
        connections[Self.key(integration, connectionId)]
    }

    func allConnections() -> [EmulatedConnection] {
        connections.values.sorted { $0.id < $1.id }
    }

    @discardableResult
    func createConnection(
        integration: Integration, connectionId: String, tags: [String: String]? = nil, endUser: JSONValue? = nil
    ) -> (connection: EmulatedConnection, created: Bool) {
        let key = Self.key(integration.key, connectionId)
        let now = Timestamp.now
        var configGenerator = SeededGenerator(seed: seed, "config", key)
        if var existing = connections[key] {
            existing.refresh(at: now)
            existing.revoked = false
            existing.tags = tags ?? existing.tags
            existing.endUser = endUser ?? existing.endUser
            connections[key] = existing
            return (existing, false)
        }
        let connection = EmulatedConnection(
            id: nextConnectionID, connectionId: connectionId, integration: integration, createdAt: now, updatedAt: now,
            accessToken: EmulatedConnection.newToken("at"), refreshToken: EmulatedConnection.newToken("rt"),
            expiresAt: Timestamp(micros: now.micros + 3_600_000_000), tags: tags, endUser: endUser,
            connectionConfig: EmulatedConnection.config(for: integration, seed: &configGenerator)
        )
        nextConnectionID += 1
        connections[key] = connection
        for sync in integration.syncs {
            streams["\(key)/\(sync.model)"] = RecordStream(
                connectionKey: key, sync: sync, seed: seed, initialCount: recordsPerModel, initialStart: initialStart)
        }
        return (connection, true)
    }

    func deleteConnection(_ connectionId: String, integration: String) -> Bool {
        let key = Self.key(integration, connectionId)
        guard connections.removeValue(forKey: key) != nil else { return false }
        streams = streams.filter { !$0.key.hasPrefix(key + "/") }
        return true
    }

    enum FetchOutcome {
        case connection(EmulatedConnection)
        case refreshFailed(EmulatedConnection)
        case missing
    }

    /// `GET /connection`: refreshes an expired (or, when forced, any) token, as Nango does on every read.
    func fetchConnection(_ connectionId: String, integration: String, forceRefresh: Bool) -> FetchOutcome {
        let key = Self.key(integration, connectionId)
        guard var connection = connections[key] else { return .missing }
        let now = Timestamp.now
        if forceRefresh || connection.expiresAt <= now {
            if connection.revoked { return .refreshFailed(connection) }
            connection.refresh(at: now)
        }
        connection.lastFetchedAt = now
        connections[key] = connection
        return .connection(connection)
    }

    func expireToken(_ connectionId: String, integration: String) -> Bool {
        let key = Self.key(integration, connectionId)
        guard connections[key] != nil else { return false }
        connections[key]!.expiresAt = Timestamp(micros: Timestamp.now.micros - 1_000_000)
        return true
    }

    func revoke(_ connectionId: String, integration: String) -> EmulatedConnection? {
        let key = Self.key(integration, connectionId)
        guard connections[key] != nil else { return nil }
        connections[key]!.revoked = true
        connections[key]!.expiresAt = Timestamp(micros: Timestamp.now.micros - 1_000_000)
        return connections[key]
    }

    // MARK: Records

    func stream(_ connectionId: String, integration: String, model: String) -> RecordStream? {
        streams["\(Self.key(integration, connectionId))/\(model)"]
    }

    struct AppliedChanges: Sendable {
        var counts: RecordStream.ChangeCounts
        var runStart: Timestamp
        var firstRun: Bool
        var syncName: String
    }

    /// `late`: how many of the added records are late commits, behind every cursor (RecordStream.apply).
    func applyChanges(
        _ connectionId: String, integration: String, model: String, add: Int, update: Int, delete: Int, late: Int = 0
    ) -> AppliedChanges? {
        let key = "\(Self.key(integration, connectionId))/\(model)"
        guard var stream = streams[key] else { return nil }
        let start = Timestamp.now
        let firstRun = stream.runs == 0
        let counts = stream.apply(add: add, update: update, delete: delete, late: late, clock: &clock, generator: &generator)
        streams[key] = stream
        return AppliedChanges(counts: counts, runStart: start, firstRun: firstRun, syncName: stream.sync.name)
    }

    func prune(_ connectionId: String, integration: String, model: String, olderThan cutoff: Timestamp) -> Int? {
        let key = "\(Self.key(integration, connectionId))/\(model)"
        guard var stream = streams[key] else { return nil }
        let count = stream.prune(olderThan: cutoff, at: .now)
        streams[key] = stream
        return count
    }

    /// Kinds of values Postgres cannot hold, each stood in for by a marker the records route writes out raw.
    enum Poison: String, Sendable, CaseIterable {
        case nul, loneSurrogate = "lone_surrogate", hugeNumber = "huge_number"

        var value: JSONValue {
            switch self {
            case .nul: .string("before\u{0}after")
            case .loneSurrogate: .string("bad " + String(Character(Unicode.Scalar(0xFDD0 as UInt32)!)) + " text")
            case .hugeNumber: .string(String(Character(Unicode.Scalar(0xFDD1 as UInt32)!)))
            }
        }
    }

    func poison(_ connectionId: String, integration: String, model: String, kind: Poison) -> String? {
        let key = "\(Self.key(integration, connectionId))/\(model)"
        guard var stream = streams[key] else { return nil }
        let id = stream.poison(with: kind.value, clock: &clock)
        streams[key] = stream
        return id
    }

    func hardDelete(_ connectionId: String, integration: String, model: String, ids: [String]?, count: Int) -> [String]? {
        let key = "\(Self.key(integration, connectionId))/\(model)"
        guard var stream = streams[key] else { return nil }
        let removed = stream.hardDelete(ids: ids, count: count, generator: &generator)
        streams[key] = stream
        return removed
    }

    struct Restart: Sendable {
        var dropped: [String]
        var live: Int
        var runStart: Timestamp
        var firstRun: Bool
        var syncName: String
    }

    /// Nango starting a model's sync over (its cache emptied, a reset): `drop` live records removed outright, then a
    /// run from scratch. The records kept stay where they are in the stream.
    func restart(_ connectionId: String, integration: String, model: String, drop: Int) -> Restart? {
        let key = "\(Self.key(integration, connectionId))/\(model)"
        guard var stream = streams[key] else { return nil }
        let start = Timestamp.now
        let firstRun = stream.runs == 0
        let dropped = stream.hardDelete(ids: nil, count: drop, generator: &generator)
        _ = stream.apply(add: 0, update: 0, delete: 0, clock: &clock, generator: &generator)
        let live = stream.liveIds().count
        // The job reports what its webhook says: every record found saved as new, and the checkpoint it reached.
        stream.run.result = .init(added: live)
        stream.run.checkpoint = ["updated_after": .string(start.javascript)]
        streams[key] = stream
        return Restart(dropped: dropped, live: live, runStart: start, firstRun: firstRun, syncName: stream.sync.name)
    }

    // MARK: Sync status (docs/nango.md §2.12)

    /// The connection's streams, one per sync, in the catalog's order; nil for an unknown connection.
    func syncStreams(_ connectionId: String, integration: String) -> [RecordStream]? {
        let key = Self.key(integration, connectionId)
        guard let connection = connections[key] else { return nil }
        return connection.integration.syncs.compactMap { streams["\(key)/\($0.model)"] }
    }

    /// The control API's `PUT …/syncs`: the job and schedule that make Nango report `status` (one of
    /// `SyncRun.reportable`); nil for an unknown connection or model.
    func setSyncStatus(_ connectionId: String, integration: String, model: String, status: String, finishedAt: Timestamp?) -> RecordStream? {
        let key = "\(Self.key(integration, connectionId))/\(model)"
        guard var stream = streams[key] else { return nil }
        stream.run.set(reported: status, finishedAt: finishedAt)
        streams[key] = stream
        return stream
    }

    /// A run of `model`'s sync failed: its job is `STOPPED` (reported `ERROR`) with an empty result.
    func failRun(_ connectionId: String, integration: String, model: String) {
        let key = "\(Self.key(integration, connectionId))/\(model)"
        // INCREMENTAL, as the failure webhook's `syncType` says.
        streams[key]?.run.ended(at: .now, result: nil, incremental: true, failed: true)
    }

    // MARK: Connect sessions

    func createSession(_ session: ConnectSession) -> String {
        let token = "nango_connect_session_" + Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
        sessions[token] = session
        return token
    }

    func session(_ token: String) -> ConnectSession? {
        guard let session = sessions[token], session.expiresAt > .now else { return nil }
        return session
    }

    // MARK: Rate limit

    struct RateLimitStatus: Sendable {
        var limit: Int
        var remaining: Int
        var resetAt: Int64     // Unix seconds
        /// `floor(msBeforeNext / 1000)`, as Nango computes it: `0` in the window's last second.
        var retryAfter: Int64
        var exceeded: Bool
    }

    func setRateLimit(_ limit: Int, windowSeconds: Double) {
        rateLimit = (limit, max(1, Int64(windowSeconds * 1000)))
        window = (0, 0)
    }

    func countRequest() -> RateLimitStatus {
        let nowMillis = Timestamp.now.micros / 1_000
        let windowStart = nowMillis - nowMillis % rateLimit.windowMillis
        if window.start != windowStart { window = (windowStart, 0) }
        window.count += 1
        if window.count > rateLimit.limit { rateLimitedAnswers += 1 }
        let end = windowStart + rateLimit.windowMillis
        return RateLimitStatus(
            limit: rateLimit.limit, remaining: max(0, rateLimit.limit - window.count), resetAt: (end + 999) / 1000,
            retryAfter: (end - nowMillis) / 1000, exceeded: window.count > rateLimit.limit)
    }

    // MARK: Faults

    func setFaults(_ faults: Faults) { self.faults = faults }

    /// The fault to apply to the next Nango API call, consuming one-shot counters.
    func nextFault() -> Faults.Decision {
        faults.decide(using: &generator)
    }
}

extension EmulatorState {
    struct WebhookFaults: Sendable {
        var duplicate: Bool
        var reorder: Bool
        var badSignature: Bool
    }

    func takeWebhookFaults() -> WebhookFaults {
        WebhookFaults(duplicate: faults.duplicateWebhooks, reorder: faults.reorderWebhooks, badSignature: faults.takeBadSignature())
    }
}
