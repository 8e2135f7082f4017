import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import MarketplaceCore

/// `X-Admin-Token` in front of `/api/admin`: compared in constant time (digests of both sides, so neither
/// length nor content leaks through timing); with `ADMIN_TOKEN` unset every admin request is refused.
struct AdminTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: Secret?

    static func matches(_ presented: String, _ expected: String) -> Bool {
        SHA256.hash(data: Data(presented.utf8)) == SHA256.hash(data: Data(expected.utf8))
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else {
            throw APIError(.unauthorized, code: "admin_closed", message: "admin endpoints are closed: ADMIN_TOKEN is not set")
        }
        guard let presented = request.headers[.adminToken], Self.matches(presented, token.value) else {
            throw APIError(.unauthorized, code: "unauthorized", message: "a valid X-Admin-Token header is required")
        }
        return try await next(request, context)
    }
}

extension HTTPField.Name {
    static let adminToken = Self("X-Admin-Token")!
}
