import Foundation
import Logging
import PostgresNIO

/// Reads of `companies`, `locations`, `contacts` and `products` for the API: keyset pages served by the
/// indexes of migrations 0002 and 0006, rows shaped as JSON by Postgres.
public enum ResourceReadTable {
    /// The sorts the API offers, each served by an index.
    public enum Sort: String, Sendable, CaseIterable { case updatedAt = "updated_at", createdAt = "created_at", name }

    public struct PageQuery: Sendable {
        public var table: Resource
        /// nil: every company (an admin listing companies).
        public var companyId: UUID?
        public var sort: Sort
        public var descending: Bool
        /// The last row of the previous page: its sort value (as text) and id.
        public var after: (value: String, id: UUID)?
        public var updatedSince: String?
        public var search: String?
        public var includeDeleted: Bool
        public var includeRaw: Bool
        public var limit: Int

        public init(table: Resource, companyId: UUID?, sort: Sort, descending: Bool, after: (value: String, id: UUID)?, updatedSince: String?,
                    search: String?, includeDeleted: Bool, includeRaw: Bool, limit: Int) {
            self.table = table
            self.companyId = companyId
            self.sort = sort
            self.descending = descending
            self.after = after
            self.updatedSince = updatedSince
            self.search = search
            self.includeDeleted = includeDeleted
            self.includeRaw = includeRaw
            self.limit = limit
        }
    }

    public struct Row: Sendable, Equatable {
        public var id: UUID
        /// The sort value as Postgres prints it: what the next page's cursor carries.
        public var sortValue: String
        /// The row as a JSON object.
        public var json: String
    }

    static func sortExpression(_ table: Resource, _ sort: Sort) -> (expression: String, type: String) {
        switch sort {
        case .updatedAt: return ("t.updated_at", "timestamptz")
        case .createdAt: return ("t.created_at", "timestamptz")
        case .name: return (table == .contacts ? "coalesce(t.display_name, '')" : "coalesce(t.name, '')", "text")
        }
    }

    static func searchExpression(_ table: Resource) -> String {
        switch table {
        case .companies: return "t.name"
        case .locations: return "coalesce(t.name, '') || ' ' || coalesce(t.city, '')"
        case .contacts: return "coalesce(t.display_name, '') || ' ' || coalesce(t.email, '')"
        case .products: return "coalesce(t.name, '') || ' ' || coalesce(t.sku, '')"
        }
    }

    /// Fields never returned: sealed tokens live elsewhere; these are internal or only on request.
    static func hidden(_ table: Resource, includeRaw: Bool) -> String {
        var hidden = ["content_hash", "change_xid"]
        if table == .companies { hidden += ["connection_metadata", "token_generation"] } else { hidden += ["company_id", "source_model"] }
        if !includeRaw { hidden.append("raw") }
        return hidden.map { " - '\($0)'" }.joined()
    }

    /// One page, `limit + 1` rows: the extra row says whether another page follows.
    public static func page(_ query: PageQuery, on connection: PostgresConnection, logger: Logger) async throws -> [Row] {
        let (sortExpression, sortType) = sortExpression(query.table, query.sort)
        var bindings = PostgresBindings()
        var conditions: [String] = []
        func bind(_ value: some PostgresEncodable & Sendable) throws -> String {
            try bindings.append(value)
            return "$\(bindings.count)"
        }
        if let companyId = query.companyId {
            conditions.append(query.table == .companies ? "t.id = \(try bind(companyId))" : "t.company_id = \(try bind(companyId))")
        }
        if !query.includeDeleted, query.table != .companies { conditions.append("t.deleted_at IS NULL") }
        if let since = query.updatedSince { conditions.append("t.updated_at >= \(try bind(since))::timestamptz") }
        if let search = query.search {
            let pattern = "%" + search.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
            conditions.append("(\(searchExpression(query.table))) ILIKE \(try bind(pattern))")
        }
        if let after = query.after {
            let value = try bind(after.value), id = try bind(after.id)
            conditions.append("(\(sortExpression), t.id) \(query.descending ? "<" : ">") (\(value)::\(sortType), \(id))")
        }
        let direction = query.descending ? "DESC" : "ASC"
        let sql = """
            SELECT t.id, (\(sortExpression))::text, (to_jsonb(t)\(hidden(query.table, includeRaw: query.includeRaw)))::text
            FROM \(query.table.rawValue) t
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY \(sortExpression) \(direction), t.id \(direction)
            LIMIT \(query.limit + 1)
            """
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        var result: [Row] = []
        result.reserveCapacity(query.limit + 1)
        for try await (id, value, json) in rows.decode((UUID, String, String).self) {
            result.append(Row(id: id, sortValue: value, json: json))
        }
        return result
    }

    /// One company, with `data_as_of`: per model it syncs, when a sync last read its stream to the end (null before one has).
    public static func company(id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Row? {
        let rows = try await connection.query("""
            SELECT t.id, t.updated_at::text,
                   ((to_jsonb(t) - 'raw' - 'content_hash' - 'connection_metadata' - 'token_generation' - 'change_xid') || jsonb_build_object('data_as_of', COALESCE(
                       (SELECT jsonb_object_agg(s.model, s.last_success_at ORDER BY s.model) FROM sync_state s
                        WHERE s.integration_id = t.integration_id AND s.connection_id = t.connection_id), '{}'::jsonb),
                   'drift', COALESCE(
                       (SELECT jsonb_object_agg(d.model, jsonb_build_object('state', d.state, 'nango_count', d.nango_count, 'our_count', d.our_count,
                                                                           'detected_at', d.detected_at, 'healed_at', d.healed_at) ORDER BY d.model)
                        FROM sync_drift d WHERE d.company_id = t.id), '{}'::jsonb)))::text
            FROM companies t WHERE t.id = \(id)
            """, logger: logger)
        for try await (id, value, json) in rows.decode((UUID, String, String).self) { return Row(id: id, sortValue: value, json: json) }
        return nil
    }
}
