import Foundation
import Logging
import PostgresNIO

/// Rows for one of the synced resource tables, column-major: one text array per column, bound as
/// parameters and expanded with `UNNEST`, so a page is one statement whatever its size.
public struct ResourceRows: Sendable {
    public struct Column: Sendable {
        public var name: String
        /// The SQL type each text value is cast to; "" stands for NULL.
        public var sqlType: String
        public var values: [String]

        public init(name: String, sqlType: String, values: [String]) {
            self.name = name
            self.sqlType = sqlType
            self.values = values
        }
    }

    /// The Nango model every row was read from (a pipeline reads one).
    public var sourceModel = ""
    public var externalIds: [String] = []
    public var sourceUpdatedAt: [String] = []
    public var contentHashes: [String] = []
    public var raw: [String] = []
    public var columns: [Column] = []

    public init() {}

    public var count: Int { externalIds.count }
}

public struct UpsertCounts: Sendable, Equatable {
    public var inserted = 0
    public var updated = 0

    public init(inserted: Int = 0, updated: Int = 0) {
        self.inserted = inserted
        self.updated = updated
    }
}

/// SQL for `locations`, `contacts` and `products`: the tables the pipeline writes, one shape.
public enum ResourceRowsTable {

    /// Column names come from the pipeline's fixed target schemas, never from input; values are bound.
    static func checkedIdentifier(_ name: String) -> String {
        precondition(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }, "not an identifier: \(name)")
        return name
    }

    /// Inserts new rows and updates changed ones. A row is left alone when the stored version is newer
    /// (Nango's modification time) or has the same content, so replays and out-of-order pages change nothing.
    public static func upsert(
        _ rows: ResourceRows, into table: Resource, companyId: UUID, on connection: PostgresConnection, logger: Logger
    ) async throws -> UpsertCounts {
        guard rows.count > 0 else { return UpsertCounts() }
        let names = rows.columns.map { checkedIdentifier($0.name) }
        var unnest: [String] = ["$3::text[]", "$4::text[]", "$5::text[]", "$6::text[]"]
        var bindings = PostgresBindings()
        bindings.append(companyId)
        bindings.append(rows.sourceModel)
        bindings.append(rows.externalIds)
        bindings.append(rows.sourceUpdatedAt)
        bindings.append(rows.contentHashes)
        bindings.append(rows.raw)
        for (index, column) in rows.columns.enumerated() {
            unnest.append("$\(index + 7)::text[]")
            bindings.append(column.values)
        }
        let aliases = ["external_id", "source_updated_at", "content_hash", "raw"] + names.map { "c_" + $0 }
        let casts = zip(names, rows.columns).map { name, column in "NULLIF(u.c_\(name), '')::\(column.sqlType)" }
        let sql = """
            WITH upserted AS (
                INSERT INTO \(table.rawValue) AS t (company_id, source_model, external_id, source_updated_at, content_hash, raw\(names.map { ", " + $0 }.joined()))
                SELECT $1, NULLIF($2, ''), u.external_id, u.source_updated_at::timestamptz, u.content_hash, u.raw::jsonb\(casts.map { ", " + $0 }.joined())
                FROM UNNEST(\(unnest.joined(separator: ", "))) AS u(\(aliases.joined(separator: ", ")))
                ON CONFLICT (company_id, external_id) DO UPDATE SET
                    source_updated_at = EXCLUDED.source_updated_at, content_hash = EXCLUDED.content_hash, raw = EXCLUDED.raw,
                    source_model = EXCLUDED.source_model,
                    deleted_at = NULL, updated_at = now()\(names.map { ", \($0) = EXCLUDED.\($0)" }.joined())
                WHERE (t.source_updated_at IS NULL OR t.source_updated_at <= EXCLUDED.source_updated_at)
                  AND (t.content_hash <> EXCLUDED.content_hash OR t.deleted_at IS NOT NULL)
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted)::int, count(*) FILTER (WHERE NOT inserted)::int FROM upserted
            """
        let result = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        for try await (inserted, updated) in result.decode((Int, Int).self) {
            return UpsertCounts(inserted: inserted, updated: updated)
        }
        return UpsertCounts()
    }

    /// Soft-deletes the rows Nango reported DELETED, unless a newer version is stored. Returns how many.
    /// How many of `externalIds` the company has a row for (deleted or not).
    public static func countStored(
        externalIds: [String], in table: Resource, companyId: UUID, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int {
        guard !externalIds.isEmpty else { return 0 }
        var bindings = PostgresBindings()
        bindings.append(companyId)
        bindings.append(externalIds)
        let sql = "SELECT count(*)::int FROM \(table.rawValue) WHERE company_id = $1 AND external_id = ANY($2::text[])"
        let result = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        for try await count in result.decode(Int.self) { return count }
        return 0
    }

    /// After a complete full resync: the company's live rows of `model`, untouched since the read began, whose
    /// record the read never saw, are soft-deleted (Nango removed them outright). Returns how many.
    public static func softDeleteUnseen(
        resyncId: Int64, startedAt: Date, model: String, from table: Resource, companyId: UUID, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int {
        var bindings = PostgresBindings()
        bindings.append(companyId)
        bindings.append(model)
        bindings.append(startedAt)
        bindings.append(resyncId)
        let sql = """
            WITH gone AS (
                UPDATE \(table.rawValue) AS t SET deleted_at = now(), updated_at = now()
                WHERE t.company_id = $1 AND t.source_model = $2 AND t.deleted_at IS NULL AND t.updated_at < $3
                  AND NOT EXISTS (SELECT 1 FROM full_resync_seen s WHERE s.resync_id = $4 AND s.record_id = t.raw->>'id')
                RETURNING 1
            )
            SELECT count(*)::int FROM gone
            """
        let result = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        for try await count in result.decode(Int.self) { return count }
        return 0
    }

    public static func softDelete(
        externalIds: [String], deletedAt: [String], from table: Resource, companyId: UUID, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int {
        guard !externalIds.isEmpty else { return 0 }
        var bindings = PostgresBindings()
        bindings.append(companyId)
        bindings.append(externalIds)
        bindings.append(deletedAt)
        let sql = """
            WITH deleted AS (
                UPDATE \(table.rawValue) AS t SET deleted_at = d.deleted_at::timestamptz, source_updated_at = d.deleted_at::timestamptz,
                       updated_at = now()
                FROM UNNEST($2::text[], $3::text[]) AS d(external_id, deleted_at)
                WHERE t.company_id = $1 AND t.external_id = d.external_id AND t.deleted_at IS NULL
                  AND (t.source_updated_at IS NULL OR t.source_updated_at <= d.deleted_at::timestamptz)
                RETURNING 1
            )
            SELECT count(*)::int FROM deleted
            """
        let result = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        for try await count in result.decode(Int.self) { return count }
        return 0
    }
}

extension ResourceRowsTable {
    /// Takes the planner's statistics of `table` again when they are missing or a fifth of its rows changed since they
    /// were taken. A table that grew from nothing in one sync looks empty to the planner until autovacuum comes round
    /// (a minute or more): a keyset walk of it then sorts every remaining row for each page (111 ms a page of 500 at
    /// 100,000 rows, quadratic in the rows), and API pages plan alike. True when it analyzed.
    @discardableResult
    public static func refreshStatisticsIfStale(_ table: Resource, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT (last_analyze IS NULL AND last_autoanalyze IS NULL AND n_live_tup + n_mod_since_analyze > 0)
                OR n_mod_since_analyze > GREATEST(1000, n_live_tup / 5)
            FROM pg_stat_user_tables WHERE relid = '\(table.rawValue)'::regclass
            """), logger: logger)
        var stale = false
        for try await value in rows.decode(Bool.self) { stale = value }
        guard stale else { return false }
        try await connection.query(PostgresQuery(unsafeSQL: "ANALYZE \(table.rawValue)"), logger: logger)
        return true
    }

    /// A keyset page of a company's live rows read from `model` (rows from before provenance was kept count
    /// when `includeUnattributed`).
    public static func storedRecords(
        of resource: Resource, companyId: UUID, model: String, includeUnattributed: Bool, after: UUID?, limit: Int,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> (records: [StoredRecord], last: UUID?) {
        precondition(resource != .companies, "a company's profile is read with CompaniesTable.profileRecord")
        let rows = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT id, raw::text, source_updated_at FROM \(resource.rawValue)
            WHERE company_id = $1 AND deleted_at IS NULL AND (source_model = $2 OR ($3 AND source_model IS NULL))
              AND ($4::uuid IS NULL OR id > $4)
            ORDER BY id LIMIT $5
            """, binds: storedRecordBinds(companyId, model, includeUnattributed, after, limit)), logger: logger)
        var records: [StoredRecord] = []
        var last: UUID?
        for try await (id, raw, updated) in rows.decode((UUID, String, Date?).self) {
            records.append(StoredRecord(raw: raw, sourceUpdatedAt: updated))
            last = id
        }
        return (records, last)
    }

    static func storedRecordBinds(_ companyId: UUID, _ model: String, _ unattributed: Bool, _ after: UUID?, _ limit: Int) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(companyId)
        bindings.append(model)
        bindings.append(unattributed)
        bindings.append(after)
        bindings.append(limit)
        return bindings
    }
}
