import Hummingbird

/// Below this middleware any thrown error becomes the JSON error shape. It *returns* the response,
/// so the middleware outside it (request id, access log, metrics, headers) see the final status.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try APIError(mapping: error, logger: context.logger).response(from: request, context: context)
        }
    }
}
