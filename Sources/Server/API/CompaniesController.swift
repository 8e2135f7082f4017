import Tokens
import Foundation
import Hummingbird
import Logging
import MarketplaceCore
import Nango
import Pipeline
import Query
import Storage

/// The business endpoints: companies and their locations, contacts and products, and a fresh sync.
struct CompaniesController: Sendable {
    typealias Context = AppRequestContext
    let reader: ResourceReader
    let syncs: SyncRequests
    let nango: NangoClient
    /// The gzip forms of answers, for clients that accept them.
    let variants: GzipVariants

    func register(on group: RouterGroup<Context>) {
        group.get("/companies") { request, context in
            let principal = try Self.principal(context)
            // A company-scoped token lists its own company; admin lists all.
            let scope: UUID? = principal.isAdmin ? nil : (principal.companyId ?? Self.noCompany)
            let list = try reader.request(Self.parameters(request), kind: .companies, companyId: scope)
            guard let page = try await reader.page(.companies, companyId: scope, request: list, logger: context.logger) else { throw APIError.notFound }
            return ETag.respond(page, to: request, variants: variants)
        }
        group.get("/companies/:id") { request, context in
            let id = try Self.visibleCompany(context)
            guard let body = try await reader.company(id, logger: context.logger) else { throw APIError.notFound }
            return ETag.respond(body, to: request, variants: variants)
        }
        for kind in [Resource.locations, .contacts, .products] {
            group.get("/companies/:id/\(kind.rawValue)") { request, context in
                let id = try Self.visibleCompany(context)
                let list = try reader.request(Self.parameters(request), kind: kind, companyId: id)
                guard let page = try await reader.page(kind, companyId: id, request: list, logger: context.logger) else { throw APIError.notFound }
                return ETag.respond(page, to: request, variants: variants)
            }
        }
        group.post("/companies/:id/sync") { request, context in try await sync(request, context) }
    }

    /// What a token without a company and without `admin` sees: nothing.
    static let noCompany = UUID(uuidString: "00000000-0000-0000-0000-000000000000")!

    static func principal(_ context: Context) throws -> Principal {
        guard let principal = context.principal else { throw APIError.unauthorized("authentication required") }
        return principal
    }

    /// The path's company when the token may see it; otherwise 404, as for a company that does not exist.
    static func visibleCompany(_ context: Context) throws -> UUID {
        let principal = try principal(context)
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text), principal.canSee(id) else {
            throw APIError.notFound
        }
        return id
    }

    static func parameters(_ request: Request) -> [String: String] {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { parameters[String(key)] = String(value) }
        return parameters
    }

    struct SyncAnswer: Encodable {
        let companyId: String
        let jobIds: [Int64]
        let models: [String]
        let nangoTriggered: Bool

        enum CodingKeys: String, CodingKey {
            case models
            case companyId = "company_id"
            case jobIds = "job_ids"
            case nangoTriggered = "nango_triggered"
        }
    }

    /// `POST /api/companies/{id}/sync[?nango=true]`: a sync job for every model the company's pipelines read
    /// (one already waiting is reused); with `nango=true` Nango is asked to run its syncs first.
    func sync(_ request: Request, _ context: Context) async throws -> Response {
        let id = try Self.visibleCompany(context)
        let askNango = try ListRequestParser.flag(request.uri.queryParameters["nango"].map(String.init), "nango")
        let queued = try await syncs.syncNow(companyId: id, askNango: askNango, nango: nango, logger: context.logger)
        return try JSONResponse.make(
            SyncAnswer(companyId: id.lowercasedString, jobIds: queued.jobIds, models: queued.models, nangoTriggered: queued.nangoTriggered),
            status: .accepted)
    }
}
