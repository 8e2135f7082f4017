import Foundation
import Logging
import Storage

/// The drifts on record, for the admin API and the console.
public struct DriftReports: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// Drifts in `state` (all when nil), oldest detected first: a keyset page after `after`.
    public func list(state: DriftState?, after: (detectedAt: Date, companyId: UUID, model: String)?, limit: Int, logger: Logger) async throws -> [DriftRecord] {
        try await database.read(logger: logger) { db in
            try await SyncDriftTable.list(state: state, after: after, limit: limit, on: db, logger: logger)
        }
    }
}
