import HTTPTypes
import Hummingbird

/// CORS for the origins in `CORS_ALLOWED_ORIGINS`: preflights answered, unknown origins get no CORS headers.
/// A listed origin is echoed with credentials allowed; `*` answers `*` and never allows credentials (a browser
/// would otherwise send any site's cookies along on behalf of whoever loaded it).
struct CORSAllowListMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>
    static var methods: String { "GET, POST, PUT, PATCH, DELETE, OPTIONS" }
    static var headers: String { "Authorization, Content-Type, If-None-Match, X-Request-ID, X-Admin-Token" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        let listed = origins.contains(origin)
        guard listed || origins.contains("*") else { return try await next(request, context) }
        var cors: HTTPFields = [.vary: "Origin"]
        if listed {
            cors[.accessControlAllowOrigin] = origin
            cors[.accessControlAllowCredentials] = "true"
        } else {
            cors[.accessControlAllowOrigin] = "*"
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            cors[.accessControlAllowMethods] = Self.methods
            cors[.accessControlAllowHeaders] = Self.headers
            cors[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: cors)
        }
        var response = try await next(request, context)
        for field in cors { response.headers[field.name] = field.value }
        response.headers[.accessControlExposeHeaders] = "ETag, X-Request-ID, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After"
        return response
    }
}
