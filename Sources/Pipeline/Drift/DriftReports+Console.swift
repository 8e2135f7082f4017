import Foundation
import Logging
import MarketplaceCore
import Storage

/// What the console shows of the drift check: the open drifts on the overview, a company's per model, and a
/// signature that moves with any drift row.
extension DriftReports {
    /// How many drifts are open, and the `limit` newest (newest detected first) with their companies' names.
    public func openSummary(limit: Int, logger: Logger) async throws -> (count: Int, newest: [OpenDriftListing]) {
        try await database.read(logger: logger) { db in try await SyncDriftTable.openSummary(limit: limit, on: db, logger: logger) }
    }

    /// Per model of the company (those that drifted or were checked): the drift on record and the last check's result.
    public func companyStatus(companyId: UUID, identity: ConnectionIdentity, logger: Logger) async throws -> [ModelDriftStatus] {
        try await database.read(logger: logger) { db in
            try await SyncDriftTable.companyStatus(companyId: companyId, identity: identity, on: db, logger: logger)
        }
    }

    /// Changes when a drift is opened, updated, healed or removed: part of the console's live signature.
    public func changeSignature(logger: Logger) async throws -> String {
        try await database.read(logger: logger) { db in try await SyncDriftTable.lastChange(on: db, logger: logger) }
    }
}
