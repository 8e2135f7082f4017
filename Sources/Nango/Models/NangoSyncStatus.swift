import MarketplaceCore

/// One sync of one connection as `GET /sync/status` reports it (docs/nango.md §2.12): Nango's
/// `ReportedSyncJobStatus`, built by `syncManager.getSyncStatus`. Decoding is tolerant: only `status` is required,
/// every other field may be missing or null, and unknown fields and status values are accepted.
public struct NangoSyncStatus: Codable, Sendable, Equatable {
    /// Nango's `SyncStatus`. Not a closed enum: Nango adds values without notice, and a value this code does not
    /// know must still decode.
    public struct Status: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A run is under way (its job is `RUNNING`).
        public static let running = Status(rawValue: "RUNNING")
        /// The schedule runs and the latest run succeeded.
        public static let success = Status(rawValue: "SUCCESS")
        /// The schedule is paused.
        public static let paused = Status(rawValue: "PAUSED")
        /// The schedule is gone (deleted).
        public static let stopped = Status(rawValue: "STOPPED")
        /// The schedule runs and the latest run failed (its job is `STOPPED`).
        public static let error = Status(rawValue: "ERROR")

        public var description: String { rawValue }
    }

    /// The sync's UUID.
    public var id: String?
    public var connectionId: String?
    /// The sync function's name, e.g. `customers`.
    public var name: String?
    /// `base` unless a variant is used.
    public var variant: String?
    public var status: Status
    /// Deprecated by Nango: `INCREMENTAL` when the latest job was incremental, else `INITIAL`.
    public var type: String?
    /// When the latest run ended (`toISOString()`, e.g. `2026-05-01T10:00:00.123Z`), as Nango sends it; left out while
    /// a run is under way and before the first run.
    public var finishedAt: String?
    /// The schedule's next due date (`toISOString()`); null when the schedule is paused or deleted.
    public var nextScheduledSyncAt: String?
    /// E.g. `every hour`; null when neither the connection nor the sync's config sets one.
    public var frequency: String?
    /// The latest run's counts per model; `{}` when that run saved nothing (a run that failed early), missing before
    /// the first run.
    public var latestResult: [String: NangoSyncResult]?
    /// The latest job's own status (`RUNNING`, `SUCCESS`, `STOPPED`), missing before the first run.
    public var latestExecutionStatus: Status?
    /// Per model of the sync, the records Nango holds: added minus deleted, floored at 0, unchanged by pruning
    /// (Nango's `record_counts`); variants of one model are not told apart.
    public var recordCount: [String: Int]?
    /// The sync's saved checkpoint (a flat object), or null.
    public var checkpoint: [String: JSONValue]?

    enum CodingKeys: String, CodingKey {
        case id, name, variant, status, type, finishedAt, nextScheduledSyncAt, frequency, latestResult
        case latestExecutionStatus, recordCount, checkpoint
        case connectionId = "connection_id"
    }

    public init(
        id: String? = nil, connectionId: String? = nil, name: String? = nil, variant: String? = nil, status: Status,
        type: String? = nil, finishedAt: String? = nil, nextScheduledSyncAt: String? = nil, frequency: String? = nil,
        latestResult: [String: NangoSyncResult]? = nil, latestExecutionStatus: Status? = nil,
        recordCount: [String: Int]? = nil, checkpoint: [String: JSONValue]? = nil
    ) {
        self.id = id
        self.connectionId = connectionId
        self.name = name
        self.variant = variant
        self.status = status
        self.type = type
        self.finishedAt = finishedAt
        self.nextScheduledSyncAt = nextScheduledSyncAt
        self.frequency = frequency
        self.latestResult = latestResult
        self.latestExecutionStatus = latestExecutionStatus
        self.recordCount = recordCount
        self.checkpoint = checkpoint
    }
}

/// One model's counts in a run (Nango's `SyncResult`).
public struct NangoSyncResult: Codable, Sendable, Equatable {
    public var added: Int
    public var updated: Int
    public var deleted: Int

    public init(added: Int = 0, updated: Int = 0, deleted: Int = 0) {
        self.added = added
        self.updated = updated
        self.deleted = deleted
    }
}
