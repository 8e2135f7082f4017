import Hummingbird
import HummingbirdCore
import Query

/// Refuses U+0000 in every query parameter of every route, with a 400 naming the parameter, before any handler
/// parses one. Postgres cannot hold U+0000 in `text`: a value carrying one would travel into a statement and come
/// back as the server's refusal. One check here, rather than one in each route's parsing, so a new route or filter
/// cannot forget it.
struct QueryTextMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let name = Self.parameterHoldingNUL(request.uri) {
            throw QueryParameterError(parameter: name, message: "must not contain U+0000 (NUL)")
        }
        return try await next(request, context)
    }

    /// The first parameter, in the query's order, whose name or decoded value holds U+0000.
    static func parameterHoldingNUL(_ uri: URI) -> String? {
        // A zero byte comes only from `%00` (or a raw NUL, which the HTTP parser refuses first), and UTF-8 writes
        // U+0000 only as that byte: a query without either needs no decoding.
        guard let query = uri.query, query.contains("%00") || query.utf8.contains(0) else { return nil }
        for (name, value) in uri.queryParameters where name.utf8.contains(0) || value.utf8.contains(0) {
            return String(name)
        }
        return nil
    }
}
