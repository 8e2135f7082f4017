import Connections
import Tokens
import Foundation
import HTTPTypes
import Hummingbird
import Query

/// `Authorization: Bearer <JWT>` on the business endpoints: HS256 with `JWT_SECRET`, `exp` required.
/// Any other algorithm (`none` included), a bad signature, a malformed or expired token: 401.
/// A company token also needs its company: one that is disconnected, unknown, or revoked the token's generation is 401.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let tokens: TokenIssuer
    let companies: CompanyTokenCheck

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("an 'Authorization: Bearer <token>' header is required")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw APIError.unauthorized("the Authorization header must be 'Bearer <token>'")
        }
        var context = context
        // A token that does not verify (`TokenError`) is answered 401 where every error is mapped.
        let principal = try await tokens.principal(for: String(parts[1]))
        if !principal.isAdmin, let companyId = principal.companyId {
            switch try await companies.verdict(companyId: companyId, tokenGeneration: principal.tokenGeneration, logger: context.logger) {
            case .allowed: break
            case .unknownCompany: throw APIError.unauthorized("the token's company does not exist")
            case .disconnected: throw APIError.unauthorized("the token's company is disconnected; reconnect it for a new token")
            case .revoked: throw APIError.unauthorized("the token has been revoked")
            }
        }
        context.principal = principal
        return try await next(request, context)
    }
}
