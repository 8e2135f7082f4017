import Foundation
import HTTPTypes
import Hummingbird
import MarketplaceCore

/// Nango's API-key check (docs/nango.md §2.1): missing header, a key that is not UUID-shaped, an unknown key.
struct NangoAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let secretKey: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw NangoErrorResponse(status: .unauthorized, code: "missing_auth_header", message: "Authentication failed. The request is missing the Authorization header.")
        }
        let key = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard UUID(uuidString: key) != nil else {
            throw NangoErrorResponse(status: .unauthorized, code: "invalid_secret_key_format", message: "Authentication failed. The provided secret key is not a UUID v4.")
        }
        guard key.lowercased() == secretKey.lowercased() else {
            throw NangoErrorResponse(status: .unauthorized, code: "unknown_account", message: "Authentication failed. The provided secret key does not match any account.")
        }
        return try await next(request, context)
    }
}

/// Injected faults on the Nango API: latency, 429 with `Retry-After`, 500, truncated and malformed bodies.
struct FaultMiddleware<Context: RequestContext>: RouterMiddleware {
    let state: EmulatorState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let limit = await state.countRequest()
        var headers: HTTPFields = [
            HTTPField.Name("X-RateLimit-Limit")!: String(limit.limit),
            HTTPField.Name("X-RateLimit-Remaining")!: String(limit.remaining),
        ]
        do {
            var response = try await faulted(request, context: context, next: next, limit: limit)
            headers[.rateLimitReset] = String(limit.resetAt)
            response.headers.append(contentsOf: headers)
            return response
        } catch var error as NangoErrorResponse {
            // An injected 429 names its own reset.
            if error.headers[.rateLimitReset] == nil { headers[.rateLimitReset] = String(limit.resetAt) }
            error.headers.append(contentsOf: headers)
            throw error
        }
    }

    private func faulted(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response, limit: EmulatorState.RateLimitStatus
    ) async throws -> Response {
        if limit.exceeded {
            throw NangoErrorResponse(
                status: .tooManyRequests, code: "too_many_request", message: nil,
                headers: [.retryAfter: String(limit.retryAfter)],
                extra: ["method": .string(request.method.rawValue), "path": .string(request.uri.path)])
        }
        let latency = await state.faults.latencyMs
        if latency > 0 { try await Task.sleep(for: .milliseconds(latency)) }
        switch await state.nextFault() {
        case .none:
            return try await next(request, context)
        case .rateLimited(let seconds):
            throw NangoErrorResponse(
                status: .tooManyRequests, code: "too_many_request", message: nil,
                headers: [.retryAfter: String(seconds), .rateLimitReset: String(Timestamp.now.micros / 1_000_000 + Int64(seconds))],
                extra: ["method": .string(request.method.rawValue), "path": .string(request.uri.path)])
        case .serverError:
            throw NangoErrorResponse(status: .internalServerError, code: "server_error", message: "An injected server error")
        case .truncate:
            // A 200 whose JSON stops mid-way, as when a proxy cuts the connection.
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "{\"records\":[{\"id\":\"1\",\"_nango_metadata\":{\"cur")))
        case .malformed:
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "<html><body>502 upstream error</body></html>")))
        }
    }
}

extension HTTPField.Name {
    static let rateLimitReset = Self("X-RateLimit-Reset")!
}
