import Foundation
import Logging
import PostgresNIO

/// What a cached answer belongs to, and so which version keys it: a resource's lists, or the company's own answer.
public enum CachedResource: Hashable, Sendable {
    case lists(Resource)
    /// `GET /api/companies/{id}`: made stale by a write to the company's profile or status (a `companies` write).
    case company

    /// Its name in `cache_versions.resource`, in cache keys and in metric labels.
    public var name: String {
        switch self {
        case .lists(let resource): resource.rawValue
        case .company: "company"
        }
    }

    /// What a write to `resources` makes stale: their lists, and the company's own answer with any `companies` write
    /// (the companies list changes with any company's profile).
    public static func affected(by resources: Set<Resource>) -> Set<CachedResource> {
        Set(resources.map(CachedResource.lists)).union(resources.contains(.companies) ? [.company] : [])
    }
}

/// SQL for `cache_versions`: the version of each company's cached answers per resource. A write bumps it in its own
/// transaction (`Database.write`, the only caller of ``bump``); a read puts it in its cache key, so an entry cached
/// before the write is never found after it.
public enum CacheVersionsTable {
    /// Bumps the versions of what a write to `resources` made stale, in one statement (sorted, so two writers of one
    /// company never deadlock).
    static func bump(companyId: UUID, resources: Set<Resource>, on connection: PostgresConnection, logger: Logger) async throws {
        let names = CachedResource.affected(by: resources).map(\.name).sorted()
        guard !names.isEmpty else { return }
        try await connection.query("""
            INSERT INTO cache_versions (company_id, resource)
            SELECT \(companyId), r FROM UNNEST(\(names)::text[]) AS r ORDER BY r
            ON CONFLICT (company_id, resource) DO UPDATE SET version = cache_versions.version + 1
            """, logger: logger)
    }

    /// The current version (0 before the first write).
    public static func version(companyId: UUID, resource: CachedResource, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let rows = try await connection.query("""
            SELECT version FROM cache_versions WHERE company_id = \(companyId) AND resource = \(resource.name)
            """, logger: logger)
        for try await version in rows.decode(Int64.self) { return version }
        return 0
    }
}
