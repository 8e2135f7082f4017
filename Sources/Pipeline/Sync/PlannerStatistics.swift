import Logging
import Storage

/// The planner's statistics of the tables a run wrote or walks, taken again where they went stale: a table that a first
/// sync grew from nothing looks empty to the planner until autovacuum comes round, and whole-table walks and API pages
/// are then planned as if it were.
enum PlannerStatistics {
    /// A read that wrote this many rows may have grown a table past what the planner last saw of it.
    static let refreshAfterRows = 10_000

    /// The rows are stored whatever happens here: a failure is only logged.
    static func refresh(_ tables: Set<Resource>, database: Database, logger: Logger) async {
        do {
            try await database.withConnection { db in
                for table in tables.sorted(by: { $0.rawValue < $1.rawValue }) {
                    if try await ResourceRowsTable.refreshStatisticsIfStale(table, on: db, logger: logger) {
                        logger.debug("planner statistics refreshed", metadata: ["table": "\(table.rawValue)"])
                    }
                }
            }
        } catch {
            logger.warning("planner statistics not refreshed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
