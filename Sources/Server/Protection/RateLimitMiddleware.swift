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
        guard decision.allowed else { throw decision.refusal(group: group) }
        var response = try await next(request, context)
        for field in decision.headers { response.headers[field.name] = field.value }
        return response
    }
}

/// Limits an unauthenticated route group per client address, counted in this process (capped in entries).
struct AddressRateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let limiter: LocalRateLimiter
    let group: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let decision = limiter.check("ip:" + context.clientAddress)
        guard decision.allowed else { throw decision.refusal(group: group) }
        var response = try await next(request, context)
        for field in decision.headers { response.headers[field.name] = field.value }
        return response
    }
}

extension RateLimiter.Decision {
    var headers: HTTPFields {
        [.rateLimitLimit: String(limit), .rateLimitRemaining: String(remaining), .rateLimitReset: String(reset)]
    }

    /// The 429, counted per group, with `Retry-After`.
    func refusal(group: String) -> APIError {
        Counter(label: "rate_limited_total", dimensions: [("group", group)]).increment()
        var refused = headers
        refused[.retryAfter] = String(reset)
        return APIError(.tooManyRequests, code: "rate_limited", message: "too many requests; retry in \(reset) s", headers: refused)
    }
}

extension HTTPField.Name {
    static let rateLimitLimit = Self("RateLimit-Limit")!
    static let rateLimitRemaining = Self("RateLimit-Remaining")!
    static let rateLimitReset = Self("RateLimit-Reset")!
}
