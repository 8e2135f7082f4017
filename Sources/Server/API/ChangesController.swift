import Foundation
import Hummingbird
import Query
import Tokens

/// The change feeds: `GET /api/companies/{id}/changes` (the company's token, or an admin one) and `GET /api/changes`
/// (every company's changes; admin tokens only).
struct ChangesController: Sendable {
    typealias Context = AppRequestContext
    let feed: ChangeFeed

    func register(on group: RouterGroup<Context>) {
        group.get("/companies/:id/changes") { request, context in
            let id = try CompaniesController.visibleCompany(context)
            return try await answer(request, context, companyId: id)
        }
        group.get("/changes") { request, context in
            guard try CompaniesController.principal(context).isAdmin else {
                throw APIError(.forbidden, code: "forbidden", message: "every company's changes need an admin token; a company reads /api/companies/{id}/changes")
            }
            return try await answer(request, context, companyId: nil)
        }
    }

    func answer(_ request: Request, _ context: Context, companyId: UUID?) async throws -> Response {
        let parameters = try feed.request(CompaniesController.parameters(request), companyId: companyId)
        guard let body = try await feed.answer(parameters, companyId: companyId, logger: context.logger) else { throw APIError.notFound }
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
