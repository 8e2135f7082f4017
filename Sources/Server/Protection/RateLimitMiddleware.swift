import Tokens
import HTTPTypes
import Hummingbird
import Metrics
import Query

/// Limits a route group per principal (the token's subject, else the client address): 429 with
/// `Retry-After`; every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let limiter: RateLimiter
    let group: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let principal = context.principal.map { "sub:" + $0.subject } ?? "ip:" + context.clientAddress
        let decision = await limiter.check(group: group, principal: principal)
        let headers: HTTPFields = [
            .rateLimitLimit: String(decision.limit), .rateLimitRemaining: String(decision.remaining), .rateLimitReset: String(decision.reset),
        ]
        guard decision.allowed else {
            Counter(label: "rate_limited_total", dimensions: [("group", group)]).increment()
            var refused = headers
            refused[.retryAfter] = String(decision.reset)
            throw APIError(.tooManyRequests, code: "rate_limited", message: "too many requests; retry in \(decision.reset) s", headers: refused)
        }
        var response = try await next(request, context)
        for field in headers { response.headers[field.name] = field.value }
        return response
    }
}

extension HTTPField.Name {
    static let rateLimitLimit = Self("RateLimit-Limit")!
    static let rateLimitRemaining = Self("RateLimit-Remaining")!
    static let rateLimitReset = Self("RateLimit-Reset")!
}
