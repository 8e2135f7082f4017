import Foundation
import Logging
import MarketplaceCore
import Metrics
import Redis

/// The Query layer caches under versioned keys per (company, resource); bumping the version makes
/// every older entry unreachable at once, with no key scan.
public protocol CacheInvalidating: Sendable {
    func bump(companyId: UUID, resources: Set<String>) async
}

public struct RedisCacheInvalidator: CacheInvalidating {
    let redis: RedisClient
    let versions: CacheVersions
    let logger: Logger

    public init(redis: RedisClient, versions: CacheVersions, logger: Logger) {
        self.redis = redis
        self.versions = versions
        self.logger = logger
    }

    public func bump(companyId: UUID, resources: Set<String>) async {
        guard !resources.isEmpty else { return }
        // The list of companies changes with any company's profile; the company itself is its own entry.
        let all = resources.union(resources.contains("companies") ? ["company"] : [])
        versions.bumpLocal(companyId: companyId, resources: all)
        do {
            _ = try await redis.pipeline(all.sorted().map { ["INCR", RedisArgument(CacheVersions.redisKey(companyId: companyId, resource: $0))] })
        } catch {
            // Entries then age out with their TTL; the Query layer's reads after a sync compare its own version too.
            Counter(label: "pipeline_cache_bump_failures_total").increment()
            logger.warning("cache version bump failed", metadata: ["company_id": "\(companyId)", "error": "\(error)"])
        }
    }
}
