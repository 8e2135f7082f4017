import Foundation
import Logging
import Storage

/// What ops see of the change log (docs/changes.md) beside the pipeline that writes it: a company's newest changes
/// and how many it has, and every company's changes per minute. The console reads it through here, not the table.
extension PipelineOps {
    /// The company's `limit` newest changes, newest first, and its count (up to ``changeCountCap``).
    public func changeLog(companyId: UUID, limit: Int, logger: Logger) async throws -> CompanyChangeLog {
        try await database.withConnection { db in try await ChangesTable.companyLog(companyId: companyId, limit: limit, on: db, logger: logger) }
    }

    /// Where the count of ``changeLog(companyId:limit:logger:)`` stops: a count of this many means that many or more.
    public static let changeCountCap = ChangesTable.companyCountCap

    /// Changes per minute since `since` (minutes without any are absent), like the overview's other series.
    public func changesPerMinute(since: Date, logger: Logger) async throws -> [(minute: Date, count: Int)] {
        try await database.withConnection { db in try await ChangesTable.perMinute(since: since, on: db, logger: logger) }
    }
}
