import Hummingbird
import NIOCore

/// Refuses a body over `limit` bytes with 413: at once when `Content-Length` says so, before any of
/// it is read; while streaming when the body is chunked. Handlers never see more than `limit` bytes.
/// A path in `handlerLimited` is left to its handler, which enforces a limit of its own (webhooks: a
/// bigger one, and every refusal counted, since Nango never resends a 413).
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let limit: Int
    var handlerLimited: Set<String> = []

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if handlerLimited.contains(request.uri.path) { return try await next(request, context) }
        if let declared = request.headers[.contentLength].flatMap(Int.init) {
            // The HTTP decoder holds a body to its declared length, so only a chunked one needs counting.
            if declared > limit { throw APIError.payloadTooLarge(limit: limit) }
            return try await next(request, context)
        }
        if !request.headers.contains(.transferEncoding) { return try await next(request, context) }
        var request = request
        request.body = RequestBody(asyncSequence: SizeLimitedBody(base: request.body, limit: limit))
        return try await next(request, context)
    }
}

struct SizeLimitedBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let limit: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let limit: Int
        var received = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try await base.next() else { return nil }
            received += chunk.readableBytes
            if received > limit { throw APIError.payloadTooLarge(limit: limit) }
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), limit: limit)
    }
}
