import Foundation
import Logging
import MarketplaceCore
import Storage

/// A company's status as Nango reports it (`refresh_failed`, `disconnected`), with the reason kept, committed with the
/// company's cache version bump (and fenced by the lease of the job making it). Returns the company's id, or nil when
/// no company has the connection.
func changeCompanyStatus(
    _ identity: ConnectionIdentity, to status: CompanyStatus, reason: String?, database: Database, lease: JobLease?, logger: Logger
) async throws -> UUID? {
    try await database.write(fencedBy: lease, logger: logger) { transaction in
        let companyId = try await CompaniesTable.setStatus(identity, status: status, reason: reason, on: transaction.connection, logger: logger)
        if let companyId { transaction.changed(companyId: companyId, [.companies]) }
        return companyId
    }
}
