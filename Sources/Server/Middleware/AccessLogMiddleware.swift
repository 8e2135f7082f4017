import Hummingbird
import Logging

/// One structured line per request, with the request id (from the logger metadata), route,
/// status and duration. Query strings are left out: they may carry tokens.
struct AccessLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        context.logger.info("request", metadata: [
            "http.method": .string(request.method.rawValue),
            "http.path": .string(request.uri.path),
            "http.route": .string(context.endpointPath ?? "unmatched"),
            "http.status": .string(String(response.status.code)),
            "duration_ms": .string(String(Double(elapsed / .microseconds(1)) / 1000)),
        ])
        return response
    }
}
