import Foundation
import Logging
import MarketplaceCore
import Storage

/// A company's status as Nango reports it (`refresh_failed`, `disconnected`), with the reason kept and the
/// company's cached answers invalidated. Returns the company's id, or nil when no company has the connection.
func changeCompanyStatus(
    _ identity: ConnectionIdentity, to status: CompanyStatus, reason: String?, database: Database, cache: any CacheInvalidating, logger: Logger
) async throws -> UUID? {
    let companyId = try await database.withConnection { db in
        try await CompaniesTable.setStatus(identity, status: status, reason: reason, on: db, logger: logger)
    }
    if let companyId { await cache.bump(companyId: companyId, resources: ["companies"]) }
    return companyId
}
