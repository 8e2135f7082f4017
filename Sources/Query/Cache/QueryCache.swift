import Crypto
import Foundation
import Logging
import MarketplaceCore
import Metrics
import NIOCore
import Redis
import Storage
import Synchronization

/// Cache-aside for API answers, per (company, resource). Keys carry the resource's version, kept in Postgres and
/// bumped in the transaction of each committed page (`cache_versions`), so a committed sync makes every older entry
/// unreachable at once, on every instance, whatever happened to Redis meanwhile — no key scans. A read asks Postgres
/// for the version (a primary-key lookup, shared by the reads of that resource arriving together), then this process's
/// bounded store of recent entries, then Redis, for the entry under it. When Redis fails or is slow, reads go to the
/// local store and to Postgres: the API keeps answering, a little slower.
public final class QueryCache: Sendable {
    public struct Configuration: Sendable {
        public var ttl: Duration
        /// Entries larger than this many bytes are stored zlib-compressed (and inflated on every hit: pages served
        /// hot stay below it).
        public var compressionThreshold: Int
        /// How long a Redis call may take before the read falls back.
        public var redisTimeout: Duration
        public var localCapacity: Int
        public var localTTL: Duration
        /// The local store's bodies (recent entries, and the fallback's), at most this many bytes together (pages with
        /// `include=raw` are large): the oldest go first.
        public var localBytes: Int

        public init(ttl: Duration, compressionThreshold: Int = 256 << 10, redisTimeout: Duration = .milliseconds(150),
                    localCapacity: Int = 2000, localTTL: Duration = .seconds(30), localBytes: Int = 32 << 20) {
            self.ttl = ttl
            self.compressionThreshold = compressionThreshold
            self.redisTimeout = redisTimeout
            self.localCapacity = localCapacity
            self.localTTL = localTTL
            self.localBytes = localBytes
        }
    }

    /// `localHit`: kept in this process under the current version (whether Redis is up or not); `fallbackMiss`: Redis
    /// failed, loaded from Postgres.
    public enum Outcome: String, Sendable { case hit, miss, localHit = "local_hit", fallbackMiss = "fallback_miss" }

    let redis: RedisClient
    let database: Database
    let configuration: Configuration
    let logger: Logger
    let local: Mutex<LocalEntries>
    let fallbackActive = Atomic<Bool>(false)
    let requests = CounterFamily(label: "cache_requests_total", dimensions: ["resource", "outcome"])
    /// Version reads of one (company, resource) at once share one query that starts after all of them asked.
    let versions = CoalescedReads<VersionKey, Int64>()

    struct VersionKey: Hashable, Sendable {
        let companyId: UUID
        let resource: CachedResource
    }

    struct LocalEntries {
        var entries: [String: (version: Int64, expires: ContinuousClock.Instant, body: ByteBuffer)] = [:]
        var order: [String] = []
        var bytes = 0
    }

    public init(redis: RedisClient, database: Database, configuration: Configuration, logger: Logger) {
        self.redis = redis
        self.database = database
        self.configuration = configuration
        self.logger = logger
        self.local = Mutex(LocalEntries())
    }

    public var isFallbackActive: Bool { fallbackActive.load(ordering: .relaxed) }

    static func fingerprint(_ text: String) -> String {
        Hex.encode(SHA256.hash(data: Data(text.utf8)).prefix(12))
    }

    /// The answer for `request` (a canonical description of the query) of `resource` of `companyId`,
    /// from the cache, or from `load` (then stored).
    public func value(
        companyId: UUID, resource: CachedResource, request: String, load: () async throws -> String
    ) async throws -> (ByteBuffer, Outcome) {
        let version = try await versions.read(VersionKey(companyId: companyId, resource: resource)) { key in
            try await database.withConnection { db in
                try await CacheVersionsTable.version(companyId: key.companyId, resource: key.resource, on: db, logger: logger)
            }
        }
        let prefix = "cache:entry:\(companyId.lowercasedString):\(resource.name):"
        let fingerprint = Self.fingerprint(request)
        let key = prefix + "\(version):" + fingerprint
        let localKey = prefix + fingerprint
        // Entries are immutable under their version, and the version comes from Postgres: one kept in this process is
        // as fresh as Redis's copy, without the round trip and the copy of the body.
        if let body = kept(localKey, version: version) {
            count(resource, "local_hit")
            return (body, .localHit)
        }
        do {
            let stored = try await redis.get(key, timeout: configuration.redisTimeout)
            markRedis(up: true)
            if let stored, let body = CacheEntryCodec.decode(stored) {
                count(resource, "hit")
                keep(localKey, version: version, body: body)
                return (body, .hit)
            }
            count(resource, "miss")
            let body = ByteBuffer(string: try await load())
            let entry = CacheEntryCodec.encode(body, threshold: configuration.compressionThreshold)
            do {
                try await redis.set(key, entry, expiresIn: configuration.ttl, timeout: configuration.redisTimeout)
            } catch {
                count(resource, "error")
            }
            keep(localKey, version: version, body: body)
            return (body, .miss)
        } catch where error is RedisError {
            // Redis failed or was slow; an error from `load` (Postgres) is not a cache problem and goes up as is.
            if !fallbackActive.load(ordering: .relaxed) {
                logger.warning("cache: Redis unavailable; reads use the local fallback", metadata: ["error": "\(error)"])
            }
            markRedis(up: false)
            count(resource, "error")
            let body = ByteBuffer(string: try await load())
            keep(localKey, version: version, body: body)
            count(resource, "fallback_miss")
            return (body, .fallbackMiss)
        }
    }

    func count(_ resource: CachedResource, _ outcome: String) {
        requests.increment(resource.name, outcome)
    }

    /// Redis answered another caller (a metrics scrape's PING): leaves the fallback without waiting for a read to miss.
    public func redisAnswered() {
        if fallbackActive.load(ordering: .relaxed) { markRedis(up: true) }
    }

    func markRedis(up: Bool) {
        let wasFallback = fallbackActive.exchange(!up, ordering: .relaxed)
        if wasFallback == up {
            Gauge(label: "cache_fallback_active").record(up ? 0 : 1)
            if up { logger.notice("cache: Redis answers again; leaving the local fallback") }
        }
    }

    /// The body kept in this process for `key` under `version`, unless it has expired.
    func kept(_ key: String, version: Int64) -> ByteBuffer? {
        let now = ContinuousClock.now
        return local.withLock { entries -> ByteBuffer? in
            guard let entry = entries.entries[key], entry.version == version, entry.expires > now else { return nil }
            return entry.body
        }
    }

    /// Keeps a body in this process, within the entry and byte bounds: the oldest go first.
    func keep(_ key: String, version: Int64, body: ByteBuffer) {
        let size = body.readableBytes
        let now = ContinuousClock.now
        let held = local.withLock { entries -> Int in
            // A body larger than the whole budget is answered, not kept.
            guard size <= configuration.localBytes else { return entries.bytes }
            if let old = entries.entries[key] {
                // Stored again: it is the newest now, not evicted first.
                entries.bytes -= old.body.readableBytes
                entries.order.removeAll { $0 == key }
            }
            entries.order.append(key)
            entries.entries[key] = (version, now + configuration.localTTL, body)
            entries.bytes += size
            var evicted = 0
            while entries.order.count - evicted > configuration.localCapacity || entries.bytes > configuration.localBytes {
                let old = entries.order[evicted]
                if let entry = entries.entries.removeValue(forKey: old) { entries.bytes -= entry.body.readableBytes }
                evicted += 1
            }
            entries.order.removeFirst(evicted)
            if evicted > 0 { Counter(label: "cache_fallback_evictions_total").increment(by: evicted) }
            return entries.bytes
        }
        Gauge(label: "cache_fallback_bytes").record(held)
    }
}
