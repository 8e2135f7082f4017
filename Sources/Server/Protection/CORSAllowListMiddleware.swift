import HTTPTypes
import Hummingbird

/// CORS for the origins in `CORS_ALLOWED_ORIGINS`: preflights answered, unknown origins get no CORS headers.
struct CORSAllowListMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>
    static var methods: String { "GET, POST, PUT, PATCH, DELETE, OPTIONS" }
    static var headers: String { "Authorization, Content-Type, If-None-Match, X-Request-ID, X-Admin-Token" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], origins.contains(origin) || origins.contains("*") else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            return Response(status: .noContent, headers: [
                .accessControlAllowOrigin: origin, .accessControlAllowMethods: Self.methods, .accessControlAllowHeaders: Self.headers,
                .accessControlMaxAge: "600", .vary: "Origin", .accessControlAllowCredentials: "true",
            ])
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlAllowCredentials] = "true"
        response.headers[.accessControlExposeHeaders] = "ETag, X-Request-ID, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After"
        response.headers[.vary] = "Origin"
        return response
    }
}
