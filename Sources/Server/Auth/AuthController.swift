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
import Pipeline
import Query

/// The connect flow: start a Nango connect session for a random end user of ours, the callback the browser
/// comes back to after Nango's Connect UI, and the exchange for front ends that finish the flow themselves.
/// A company token goes only to the browser that finished that connection's flow (docs/security.md).
struct AuthController<Context: RequestContext>: Sendable {
    let nango: NangoClient
    let importer: ConnectionImporter
    let tokens: TokenIssuer
    let companies: CompanyTokenCheck
    let reconnects: ReconnectEvidence
    let oauth: AppConfiguration.OAuth
    let stateSecret: String
    /// How long a reconnect's exchange waits for Nango's `override` webhook, which may arrive after the browser.
    var overrideWait: Duration = .seconds(10)

    /// On `/api/auth`, limited per client address: each call costs Nango calls.
    func register(on group: RouterGroup<Context>) {
        group.get("/oauth-url", use: oauthURL)
        group.get("/callback", use: callback)
        group.post("/exchange", use: exchange)
    }

    struct ExchangeBody: Decodable {
        let connection_id: String?
        let integration_id: String?
        let state: String?
        let nonce: String?
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

    /// The browser secret's cookie: sent back only to `/api/auth`, never readable by scripts.
    static var browserCookie: String { "marketplace_oauth" }

    static func identifier(_ value: String?, _ name: String, maxLength: Int = 255) throws -> String {
        guard let value, !value.isEmpty else {
            throw APIError(.badRequest, code: "invalid_request", message: "'\(name)' is required")
        }
        guard value.count <= maxLength, value.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else {
            throw APIError(.badRequest, code: "invalid_request", message: "'\(name)' must be 1–\(maxLength) printable ASCII characters")
        }
        return value
    }

    /// One answer for every connection that this browser's flow did not make, whether it exists or not.
    static var notVerified: APIError { APIError(
        .forbidden, code: "connection_not_verified",
        message: "no connection made by this browser's connect flow matches; start again with /api/auth/oauth-url") }

    /// `GET /api/auth/oauth-url?integration_id=[&connection_id=label]`: a Nango connect session for a random end
    /// user of ours, and a signed `state` bound to this browser (an HttpOnly cookie, and `browser_nonce` for front
    /// ends that call `exchange` themselves). With a company token, a reconnect of that company's connection.
    @Sendable func oauthURL(_ request: Request, context: Context) async throws -> Response {
        let query = request.uri.queryParameters
        let integration = try Self.identifier(query["integration_id"].map(String.init), "integration_id")
        let reference = try query["connection_id"].map { try Self.identifier(String($0), "connection_id") }
        let reconnecting = try await reconnectingCompany(request, integration: integration, logger: context.logger)
        let endUserId = "eu_" + OAuthState.randomSecret().prefix(32)
        let browserSecret = OAuthState.randomSecret()
        var tags = ["end_user_id": endUserId]
        if let reference { tags["reference"] = reference }
        let session: NangoConnectSession
        do {
            if let reconnecting {
                // Nango's reconnect session re-authorises the company's own connection (its id, creation time and
                // end user kept); an ordinary session would make a new connection instead.
                session = try await nango.createReconnectSession(.init(
                    connectionId: reconnecting.identity.connectionId, integrationId: reconnecting.identity.integrationId))
            } else {
                session = try await nango.createConnectSession(.init(endUser: .init(id: endUserId), allowedIntegrations: [integration], tags: tags))
            }
        } catch {
            throw APIError(mapping: error, logger: context.logger)
        }
        let issued = Date()
        let expires = issued.addingTimeInterval(Double(oauth.stateTTL / .seconds(1)))
        let state = try OAuthState(
            integrationId: integration, endUserId: endUserId, reference: reference, issuedAt: issued, expiresAt: expires,
            browserSecret: browserSecret, companyId: reconnecting?.companyId, tokenGeneration: reconnecting?.tokenGeneration
        ).signed(secret: stateSecret)
        var callback = URLComponents(string: oauth.publicURL + "/api/auth/callback")!
        callback.queryItems = [URLQueryItem(name: "state", value: state)]
        var response = try JSONResponse.make([
            "connect_session_token": session.token, "connect_url": session.connectLink, "expires_at": session.expiresAt,
            "state": state, "state_expires_at": expires.formatted(.iso8601), "integration_id": integration,
            "browser_nonce": browserSecret, "callback_url": callback.string ?? "",
        ], status: .ok)
        response.headers[.cacheControl] = "no-store"
        response.setCookie(Cookie(
            name: Self.browserCookie, value: browserSecret, maxAge: Int(oauth.stateTTL / .seconds(1)), path: "/api/auth",
            secure: oauth.publicURL.hasPrefix("https://"), httpOnly: true, sameSite: .lax))
        return response
    }

    /// A reconnect is asked for with the company's own token, for the integration of its connection: the state names
    /// the company, and Nango's reconnect session is for the company's connection.
    func reconnectingCompany(
        _ request: Request, integration: String, logger: Logger
    ) async throws -> (companyId: UUID, identity: ConnectionIdentity, tokenGeneration: Int)? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer",
              let principal = try? await tokens.principal(for: String(parts[1])), let companyId = principal.companyId else {
            throw APIError.unauthorized("a reconnect needs the company's valid token")
        }
        // A revoked token, or one of a disconnected company, must not mint a fresh one through a reconnect.
        guard try await companies.verdict(companyId: companyId, tokenGeneration: principal.tokenGeneration, logger: logger) == .allowed else {
            throw APIError.unauthorized("a reconnect needs the company's valid token")
        }
        guard let identity = try await companies.identity(of: companyId, logger: logger) else {
            throw APIError.unauthorized("a reconnect needs the company's valid token")
        }
        guard identity.integrationId == integration else {
            throw APIError(.badRequest, code: "invalid_parameter",
                           message: "integration_id must be the integration of the company's connection to reconnect it")
        }
        return (companyId, identity, principal.tokenGeneration)
    }

    /// `GET /api/auth/callback?state=&connection_id=`: the browser that started the flow (its cookie) comes back
    /// from Nango's Connect UI; the connection must be the one its flow made. Redirects or answers JSON.
    @Sendable func callback(_ request: Request, context: Context) async throws -> Response {
        let query = request.uri.queryParameters
        do {
            let (company, generation) = try await verifiedCompany(
                state: query["state"].map(String.init), browserSecret: request.cookies[Self.browserCookie]?.value,
                connectionId: query["connection_id"].map(String.init), context: context)
            if let success = oauth.successURL {
                return redirect(success, ["company_id": company.id.lowercasedString, "connection_id": company.connectionId])
            }
            return try await Self.tokenAnswer(company, generation: generation, tokens: tokens, companies: companies, logger: context.logger)
        } catch let error as APIError {
            return try failure(error, context)
        }
    }

    /// `POST /api/auth/exchange {connection_id, state, nonce}`: the same proof as the callback, for front ends
    /// that finish the flow themselves (the nonce from `oauth-url`, or the cookie).
    @Sendable func exchange(_ request: Request, context: Context) async throws -> Response {
        let body: ExchangeBody
        do {
            body = try JSONDecoder().decode(ExchangeBody.self, from: Data(try await request.body.collect(upTo: 64 * 1024).readableBytesView))
        } catch {
            throw APIError(.badRequest, code: "invalid_request", message: "body must be JSON {connection_id, state, nonce}")
        }
        let (company, generation) = try await verifiedCompany(
            state: body.state, browserSecret: body.nonce ?? request.cookies[Self.browserCookie]?.value,
            connectionId: body.connection_id, context: context)
        return try await Self.tokenAnswer(company, generation: generation, tokens: tokens, companies: companies, logger: context.logger)
    }

    /// The proof, in order: a genuine unexpired state issued to this browser (checked before Nango is asked, so a
    /// stranger learns nothing), then Nango's connection carrying the state's end user and created after it (or, for
    /// a reconnect: the company's tokens not revoked since the state, and Nango's `override` webhook for its connection
    /// received after it). Any failure past the state: one answer. A reconnect's token is issued under the generation
    /// its state was (a revocation while this runs leaves it dead on arrival); nil for a new connection.
    func verifiedCompany(
        state text: String?, browserSecret: String?, connectionId: String?, context: Context
    ) async throws -> (company: CompanyRecord, tokenGeneration: Int?) {
        let state: OAuthState
        do {
            state = try OAuthState.verify(text ?? "", secret: stateSecret, browserSecret: browserSecret)
        } catch .otherBrowser {
            throw APIError(.badRequest, code: "invalid_state", message: "the state was not issued to this browser")
        } catch {
            throw APIError(.badRequest, code: "invalid_state", message: "state is missing, tampered with or expired")
        }
        let connectionId = try Self.identifier(connectionId, "connection_id")
        let identity = ConnectionIdentity(integrationId: state.integrationId, connectionId: connectionId)
        var reconnecting: ConnectionIdentity?
        var overrideReceivedAt: Date?
        if let companyText = state.companyId {
            guard let companyId = UUID(uuidString: companyText),
                  let company = try await companies.identity(of: companyId, logger: context.logger) else { throw Self.notVerified }
            // A revocation since the reconnect was asked for ends it: the state is worth no more than the token was.
            guard let generation = state.tokenGeneration,
                  try await companies.generation(of: companyId, logger: context.logger) == generation else {
                context.logger.warning("a reconnect begun before its company's tokens were revoked was refused")
                throw Self.notVerified
            }
            guard company == identity else { throw Self.notVerified }
            reconnecting = company
            overrideReceivedAt = try await reconnects.overrideReceived(company, since: state.provenSince, wait: overrideWait, logger: context.logger)
        }
        let connection: NangoConnection
        do {
            connection = try await importer.fetch(identity)
        } catch .notFound {
            throw Self.notVerified
        } catch {
            throw APIError(mapping: error, logger: context.logger)
        }
        let connected = ConnectedConnection(
            integrationId: connection.providerConfigKey, connectionId: connection.connectionId,
            endUserId: connection.endUser?["id"]?.string ?? connection.endUser?["endUserId"]?.string ?? connection.tags?["end_user_id"],
            createdAt: connection.createdAt.flatMap(Self.date), updatedAt: connection.updatedAt.flatMap(Self.date))
        guard state.proves(connected, reconnecting: reconnecting, overrideReceivedAt: overrideReceivedAt) else {
            context.logger.warning("a connect flow's proof failed", metadata: ["integration_id": "\(state.integrationId)"])
            throw Self.notVerified
        }
        let company = try await importer.store(connection, fencedBy: nil, logger: context.logger)
        return (company, state.companyId == nil ? nil : state.tokenGeneration)
    }

    /// Nango's connection times: ISO 8601 with milliseconds and `+00:00` (or `Z`).
    static func date(_ text: String) -> Date? {
        (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) ?? (try? Date(text, strategy: .iso8601))
    }

    /// The company and a token scoped to it, under its current token generation: the connect flow's answer, and
    /// the admin import's.
    static func tokenAnswer(
        _ company: CompanyRecord, generation: Int? = nil, tokens: TokenIssuer, companies: CompanyTokenCheck, logger: Logger
    ) async throws -> Response {
        // The subject names the pair: the same connection id under two integrations is two principals (rate limits, logs).
        var issuedUnder = generation ?? 0
        if generation == nil { issuedUnder = try await companies.generation(of: company.id, logger: logger) ?? 0 }
        let token = try await tokens.companyToken(company.id, subject: "connection:\(company.identity)", generation: issuedUnder)
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
