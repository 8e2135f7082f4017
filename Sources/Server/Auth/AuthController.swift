import Tokens
import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Nango
import Storage
import Connections

/// The seed's OAuth endpoints: start a Nango connect session, the callback the front end sends the
/// user to after Nango's Connect UI, and the direct exchange of a connection for a company token.
struct AuthController<Context: RequestContext>: Sendable {
    let nango: NangoClient
    let importer: ConnectionImporter
    let tokens: TokenIssuer
    let oauth: AppConfiguration.OAuth
    let stateSecret: String

    func register(on router: Router<Context>) {
        let group = router.group("/api/auth")
        group.get("/oauth-url", use: oauthURL)
        group.get("/callback", use: callback)
        group.post("/exchange", use: exchange)
    }

    struct ExchangeBody: Decodable {
        let connection_id: String?
        let integration_id: String?
    }

    struct CompanyAnswer: Encodable {
        let company: CompanyView
        let token: String
        let tokenType = "Bearer"
        let expiresIn: Int

        enum CodingKeys: String, CodingKey {
            case company, token
            case tokenType = "token_type"
            case expiresIn = "expires_in"
        }
    }

    static func identifier(_ value: String?, _ name: String, maxLength: Int = 255) throws -> String {
        guard let value, !value.isEmpty else {
            throw APIError(.badRequest, code: "invalid_request", message: "'\(name)' is required")
        }
        guard value.count <= maxLength, value.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else {
            throw APIError(.badRequest, code: "invalid_request", message: "'\(name)' must be 1–\(maxLength) printable ASCII characters")
        }
        return value
    }

    /// `GET /api/auth/oauth-url?integration_id=&connection_id=`: a Nango connect session for that integration,
    /// with `connection_id` as the end user it is for, and a signed `state` for the callback.
    @Sendable func oauthURL(_ request: Request, context: Context) async throws -> Response {
        let query = request.uri.queryParameters
        let integration = try Self.identifier(query["integration_id"].map(String.init), "integration_id")
        let reference = try Self.identifier(query["connection_id"].map(String.init), "connection_id")
        let session = try await nango.createConnectSession(.init(
            endUser: .init(id: reference), allowedIntegrations: [integration], tags: ["end_user_id": reference]))
        let expires = Date().addingTimeInterval(Double(oauth.stateTTL / .seconds(1)))
        let state = try OAuthState(integrationId: integration, reference: reference, expiresAt: expires).signed(secret: stateSecret)
        var callback = URLComponents(string: oauth.publicURL + "/api/auth/callback")!
        callback.queryItems = [URLQueryItem(name: "state", value: state)]
        return try JSONResponse.make([
            "connect_session_token": session.token, "connect_url": session.connectLink, "expires_at": session.expiresAt,
            "state": state, "state_expires_at": expires.formatted(.iso8601), "integration_id": integration,
            "connection_id": reference, "callback_url": callback.string ?? "",
        ], status: .ok)
    }

    /// `GET /api/auth/callback?state=&connection_id=`: verifies the state, confirms the connection with Nango
    /// (right integration, made for the state's end user), stores it, then redirects or answers JSON.
    @Sendable func callback(_ request: Request, context: Context) async throws -> Response {
        let query = request.uri.queryParameters
        let state: OAuthState
        do {
            state = try OAuthState.verify(String(query["state"] ?? ""), secret: stateSecret)
        } catch {
            return try failure(APIError(.badRequest, code: "invalid_state", message: "state is missing, tampered with or expired"), context)
        }
        let connectionId = try Self.identifier(query["connection_id"].map(String.init), "connection_id")
        do {
            let connection = try await importer.fetch(ConnectionIdentity(integrationId: state.integrationId, connectionId: connectionId))
            let owner = connection.tags?["end_user_id"] ?? connection.endUser?["endUserId"]?.string ?? connection.endUser?["id"]?.string
            guard connection.providerConfigKey == state.integrationId, owner == nil || owner == state.reference else {
                return try failure(APIError(.badRequest, code: "state_mismatch", message: "the connection was not made for this state"), context)
            }
            let company = try await importer.store(connection, logger: context.logger)
            if let success = oauth.successURL {
                return redirect(success, ["company_id": company.id.uuidString.lowercased(), "connection_id": company.connectionId])
            }
            return try await answer(company)
        } catch let error as NangoError {
            return try failure(APIError(mapping: error, logger: context.logger), context)
        }
    }

    /// `POST /api/auth/exchange {connection_id, integration_id}`.
    @Sendable func exchange(_ request: Request, context: Context) async throws -> Response {
        let body: ExchangeBody
        do {
            body = try JSONDecoder().decode(ExchangeBody.self, from: Data(try await request.body.collect(upTo: 64 * 1024).readableBytesView))
        } catch {
            throw APIError(.badRequest, code: "invalid_request", message: "body must be JSON {connection_id, integration_id}")
        }
        let connectionId = try Self.identifier(body.connection_id, "connection_id")
        let integration = try Self.identifier(body.integration_id, "integration_id")
        do {
            let connection = try await importer.fetch(ConnectionIdentity(integrationId: integration, connectionId: connectionId))
            return try await answer(try await importer.store(connection, logger: context.logger))
        } catch let error as NangoError {
            throw APIError(mapping: error, logger: context.logger)
        }
    }

    private func answer(_ company: CompanyRecord) async throws -> Response {
        // The subject names the pair: the same connection id under two integrations is two principals (rate limits, logs).
        let token = try await tokens.companyToken(company.id, subject: "connection:\(company.identity)")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(CompanyAnswer(company: CompanyView(company), token: token, expiresIn: Int(tokens.lifetime / .seconds(1))))
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func failure(_ error: APIError, _ context: Context) throws -> Response {
        guard let url = oauth.failureURL else { throw error }
        context.logger.warning("oauth callback failed", metadata: ["code": "\(error.code)"])
        return redirect(url, ["error": error.code])
    }

    private func redirect(_ base: String, _ parameters: [String: String]) -> Response {
        var components = URLComponents(string: base)!
        components.queryItems = (components.queryItems ?? []) + parameters.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        return Response(status: .found, headers: [.location: components.string ?? base, .cacheControl: "no-store"])
    }
}
