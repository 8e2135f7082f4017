import Foundation
import Synchronization

/// Versions of cached (company, resource) data. Redis holds the shared counter that writers bump and
/// readers put in their keys; this in-process copy versions the local fallback cache used while Redis
/// is unreachable, so a sync finished in this process is never answered from before it.
public final class CacheVersions: Sendable {
    let local = Mutex<[String: Int]>([:])

    public init() {}

    /// The Redis key of the shared counter.
    public static func redisKey(companyId: UUID, resource: String) -> String {
        "cache:version:\(companyId.uuidString.lowercased()):\(resource)"
    }

    public func bumpLocal(companyId: UUID, resources: some Sequence<String>) {
        local.withLock { versions in
            for resource in resources { versions[Self.redisKey(companyId: companyId, resource: resource), default: 0] += 1 }
        }
    }

    public func localVersion(companyId: UUID, resource: String) -> Int {
        local.withLock { $0[Self.redisKey(companyId: companyId, resource: resource)] ?? 0 }
    }
}
