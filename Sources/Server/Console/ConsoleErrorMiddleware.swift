import Hummingbird

/// Console pages fail as pages: the error mapped once (`APIError(mapping:)`, as everywhere) and shown in words,
/// with the request id. The live feed and scripted calls get the status alone.
struct ConsoleErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let renderer: ConsoleRenderer

    struct ErrorPage {
        let status: Int
        let title: String
        let message: String
        let requestId: String
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let mapped = APIError(mapping: error, logger: context.logger)
            if request.headers[.accept]?.contains("text/event-stream") == true {
                return Response(status: mapped.status, headers: mapped.headers)
            }
            var response = renderer.page(
                "error", ErrorPage(status: mapped.status.code, title: mapped.status.reasonPhrase, message: mapped.message, requestId: context.id),
                status: mapped.status)
            for field in mapped.headers where field.name != .contentType { response.headers[field.name] = field.value }
            return response
        }
    }
}
