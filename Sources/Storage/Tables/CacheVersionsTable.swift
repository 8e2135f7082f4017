import Foundation
import Logging
import PostgresNIO

/// SQL for `cache_versions`: the version of each company's cached answers per resource. A write bumps it in its own
/// transaction (`Database.write`, the only caller of ``bump``); a read puts it in its cache key, so an entry cached
/// before the write is never found after it.
public enum CacheVersionsTable {
    /// The resources whose answers a write to `resources` makes stale: the companies list changes with any company's
    /// profile, and the company is an entry of its own.
    public static func affected(by resources: Set<String>) -> [String] {
        resources.union(resources.contains("companies") ? ["company"] : []).sorted()
    }

    /// Bumps the versions, in one statement (sorted, so two writers of one company never deadlock).
    static func bump(companyId: UUID, resources: Set<String>, on connection: PostgresConnection, logger: Logger) async throws {
        let names = affected(by: resources)
        guard !names.isEmpty else { return }
        try await connection.query("""
            INSERT INTO cache_versions (company_id, resource)
            SELECT \(companyId), r FROM UNNEST(\(names)::text[]) AS r ORDER BY r
            ON CONFLICT (company_id, resource) DO UPDATE SET version = cache_versions.version + 1
            """, logger: logger)
    }

    /// The current version (0 before the first write).
    public static func version(companyId: UUID, resource: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let rows = try await connection.query("""
            SELECT version FROM cache_versions WHERE company_id = \(companyId) AND resource = \(resource)
            """, logger: logger)
        for try await version in rows.decode(Int64.self) { return version }
        return 0
    }
}
