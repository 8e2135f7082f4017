import Foundation
import Logging
import Metrics
import Redis

/// The Query layer caches under versioned keys per (company, resource); bumping the version makes
/// every older entry unreachable at once, with no key scan.
public protocol CacheInvalidating: Sendable {
    func bump(companyId: UUID, resources: Set<String>) async
}

public struct RedisCacheInvalidator: CacheInvalidating {
    let redis: RedisClient
    let logger: Logger

    public init(redis: RedisClient, logger: Logger) {
        self.redis = redis
        self.logger = logger
    }

    public static func versionKey(companyId: UUID, resource: String) -> String {
        "cache:version:\(companyId.uuidString.lowercased()):\(resource)"
    }

    public func bump(companyId: UUID, resources: Set<String>) async {
        guard !resources.isEmpty else { return }
        do {
            _ = try await redis.pipeline(resources.sorted().map { ["INCR", RedisArgument(Self.versionKey(companyId: companyId, resource: $0))] })
        } catch {
            // Entries then age out with their TTL; the Query layer's reads after a sync compare its own version too.
            Counter(label: "pipeline_cache_bump_failures_total").increment()
            logger.warning("cache version bump failed", metadata: ["company_id": "\(companyId)", "error": "\(error)"])
        }
    }
}
