import CompressNIO
import NIOCore
import Synchronization

/// The gzip form of answers, made once per body and kept by the body's strong ETag (its hash): a client that accepts
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
        if let found = kept.withLock({ $0.bodies[etag] }) { return found.readableBytes == 0 ? nil : found }
        var input = body
        // A body that does not shrink is remembered as empty, so it is not tried again on every hit.
        let compressed = (try? input.compress(with: .gzip())).flatMap { $0.readableBytes < body.readableBytes ? $0 : nil }
        keep(compressed ?? ByteBuffer(), etag: etag)
        return compressed
    }

    func keep(_ compressed: ByteBuffer, etag: String) {
        let size = compressed.readableBytes
        guard size <= budget else { return }
        kept.withLock { kept in
            guard kept.bodies[etag] == nil else { return }
            kept.bodies[etag] = compressed
            kept.order.append(etag)
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
