import HTTPTypes
import Hummingbird
import Logging

/// Echoes a well-formed incoming `X-Request-ID`, or hands out Hummingbird's generated id.
/// The id goes into the logger metadata, so every log line of the request carries it.
struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let incoming = request.headers[.xRequestID], Self.isAcceptable(incoming) {
            context.logger[metadataKey: "hb.request.id"] = .string(incoming)
        }
        var response = try await next(request, context)
        response.headers[.xRequestID] = context.id
        return response
    }

    /// Up to 128 visible ASCII characters without quotes or backslashes: safe in a header and a JSON log.
    static func isAcceptable(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128
            && id.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-ID")!
}
