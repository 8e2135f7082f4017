import Foundation
import Logging
import MarketplaceCore
import Metrics
import Storage

/// The Query layer caches under keys carrying a (company, resource) version kept in Postgres; bumping it makes every
/// older entry unreachable at once, with no key scan. A sync's pages bump it in their own transaction
/// (`CacheVersionsTable.bump`); writes outside a transaction of the pipeline bump it through this.
public protocol CacheInvalidating: Sendable {
    func bump(companyId: UUID, resources: Set<String>) async
}

public struct PostgresCacheInvalidator: CacheInvalidating {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func bump(companyId: UUID, resources: Set<String>) async {
        do {
            try await database.withConnection { db in
                try await CacheVersionsTable.bump(companyId: companyId, resources: resources, on: db, logger: logger)
            }
        } catch {
            // Postgres refused right after the write it follows: the entries then age out with their TTL.
            Counter(label: "pipeline_cache_bump_failures_total").increment()
            logger.warning("cache version bump failed", metadata: ["company_id": "\(companyId)", "error": "\(error)"])
        }
    }
}
