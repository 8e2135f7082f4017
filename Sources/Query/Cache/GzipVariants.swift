import CompressNIO
import NIOCore
import Synchronization

/// The gzip form of answers, made once per body and kept by the body's strong ETag (its hash) and length: a client that accepts
/// gzip is sent a sixth of the bytes of a JSON page, and a page served hot is compressed once, not on every hit.
/// Keyed by content, an entry is never stale and needs no invalidation; the oldest go first beyond `capacity` entries
/// or `bytes` bytes.
public final class GzipVariants: Sendable {
    /// Bodies smaller than this go as they are: a few hundred bytes fit one packet either way.
    public static let minimumSize = 1024

    let capacity: Int
    let budget: Int
    let kept = Mutex(Kept())

    struct Kept {
        var bodies: [String: ByteBuffer] = [:]
        var order: [String] = []
        var bytes = 0
    }

    public init(capacity: Int = 4096, bytes: Int = 16 << 20) {
        self.capacity = capacity
        self.budget = bytes
    }

    /// The gzip form of `body`, whose strong ETag is `etag`; nil when the body is too small or does not shrink.
    public func gzip(_ body: ByteBuffer, etag: String) -> ByteBuffer? {
        guard body.readableBytes >= Self.minimumSize else { return nil }
        // The body's length beside its tag: a tag read back wrong (from Redis, say) cannot hand out another body's form.
        let key = etag + ":" + String(body.readableBytes)
        if let found = kept.withLock({ $0.bodies[key] }) { return found.readableBytes == 0 ? nil : found }
        var input = body
        // The compressor's buffer is sized for the worst case (about the input's size): kept as is, the budget would
        // count a sixth of what it holds. A body that does not shrink is remembered as empty, not tried on every hit.
        let compressed = (try? input.compress(with: .gzip())).flatMap { $0.readableBytes < body.readableBytes ? $0 : nil }
        let exact = compressed.map { compressed in
            var exact = ByteBuffer()
            exact.reserveCapacity(compressed.readableBytes)
            exact.writeImmutableBuffer(compressed)
            return exact
        }
        keep(exact ?? ByteBuffer(), key: key)
        return exact
    }

    func keep(_ compressed: ByteBuffer, key: String) {
        let size = compressed.readableBytes
        guard size <= budget else { return }
        kept.withLock { kept in
            guard kept.bodies[key] == nil else { return }
            kept.bodies[key] = compressed
            kept.order.append(key)
            kept.bytes += size
            var evicted = 0
            while kept.order.count - evicted > capacity || kept.bytes > budget {
                if let old = kept.bodies.removeValue(forKey: kept.order[evicted]) { kept.bytes -= old.readableBytes }
                evicted += 1
            }
            kept.order.removeFirst(evicted)
        }
    }

    public var count: Int { kept.withLock { $0.bodies.count } }
}
