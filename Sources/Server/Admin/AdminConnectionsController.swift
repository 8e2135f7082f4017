import Connections
import Foundation
import Hummingbird
import Logging
import MarketplaceCore
import Nango
import Pipeline
import Query
import Storage
import Tokens

/// Admin operations on connections and their tokens: importing a connection made outside the connect flow
/// (scripts, demo data), and revoking every token of a company before it expires.
struct AdminConnectionsController<Context: RequestContext>: Sendable {
    let importer: ConnectionImporter
    let tokens: TokenIssuer
    let companies: CompanyTokenCheck

    struct RevokeAnswer: Encodable {
        let company_id: String
        let token_generation: Int
    }

    struct ImportBody: Decodable {
        let connection_id: String?
        let integration_id: String?
    }

    func register(on group: RouterGroup<Context>) {
        // `POST /api/admin/connections/import {integration_id, connection_id}`: fetched from Nango, stored, and a token.
        group.post("/connections/import") { request, context in
            let body: ImportBody
            do {
                body = try JSONDecoder().decode(ImportBody.self, from: Data(try await request.body.collect(upTo: 64 * 1024).readableBytesView))
            } catch {
                throw APIError(.badRequest, code: "invalid_request", message: "body must be JSON {integration_id, connection_id}")
            }
            let identity = ConnectionIdentity(
                integrationId: try AuthController<Context>.identifier(body.integration_id, "integration_id"),
                connectionId: try AuthController<Context>.identifier(body.connection_id, "connection_id"))
            let connection: NangoConnection
            do {
                connection = try await importer.fetch(identity)
            } catch {
                throw APIError(mapping: error, logger: context.logger)
            }
            let company = try await importer.store(connection, fencedBy: nil, logger: context.logger)
            context.logger.notice("connection imported by an admin", metadata: ["company_id": "\(company.id)"])
            return try await AuthController<Context>.tokenAnswer(company, tokens: tokens, companies: companies, logger: context.logger)
        }
        // `POST /api/admin/companies/{id}/tokens/revoke`: every token issued so far stops working on every instance
        // within the few seconds each caches a company's state.
        group.post("/companies/:id/tokens/revoke") { _, context in
            let companyId = try AdminOpsController<Context>.uuid(context.parameters.get("id"), "id")
            guard let companyId, let generation = try await companies.revokeAll(companyId: companyId, logger: context.logger) else {
                throw APIError.notFound
            }
            context.logger.notice("company tokens revoked", metadata: ["company_id": "\(companyId)", "generation": "\(generation)"])
            return try JSONResponse.make(RevokeAnswer(company_id: companyId.lowercasedString, token_generation: generation))
        }
    }
}
