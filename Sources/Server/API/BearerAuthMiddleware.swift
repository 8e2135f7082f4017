import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import JWTKit
import Query

/// `Authorization: Bearer <JWT>` on the business endpoints: HS256 with `JWT_SECRET`, `exp` required.
/// Any other algorithm (`none` included), a bad signature, a malformed or expired token: 401.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let tokens: TokenIssuer

    static func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, code: "unauthorized", message: message, headers: [.wwwAuthenticate: "Bearer"])
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw Self.unauthorized("an 'Authorization: Bearer <token>' header is required")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw Self.unauthorized("the Authorization header must be 'Bearer <token>'")
        }
        let claims: APIClaims
        do {
            claims = try await tokens.verify(String(parts[1]))
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw Self.unauthorized("the token has expired")
        } catch {
            throw Self.unauthorized("the token is not valid")
        }
        var companyId: UUID?
        if let text = claims.companyId {
            guard let id = UUID(uuidString: text) else { throw Self.unauthorized("the token's company_id is not a uuid") }
            companyId = id
        }
        let scopes = Set((claims.scope ?? "").split(separator: " ").map(String.init))
        var context = context
        context.principal = Principal(subject: claims.sub.value, companyId: companyId, isAdmin: scopes.contains("admin"))
        return try await next(request, context)
    }
}
