import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Nango
import Pipeline
import Storage

/// The tokens page: each connection's sealed credentials, summarised (never shown).
extension ConsoleController {
    struct TokensPage {
        struct Credential {
            let companyId: String
            let integrationId: String
            let connectionId: String
            let provider: String
            let status: String
            let authType: String
            let fingerprint: String?
            let expiresAt: Stamp?
            let lastRefreshedAt: Stamp?
            let refreshFailures: Int
            let lastRefreshError: String?
        }

        let frame: ConsoleFrame
        let credentials: [Credential]
    }

    func tokens(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let credentials = try await ops.credentials(limit: 500, logger: context.logger)
        return renderer.page("tokens", TokensPage(
            frame: ConsoleFrame(title: "Tokens", section: "/console/tokens", session: session, notice: Self.notice(request)),
            credentials: credentials.map {
                .init(companyId: $0.companyId.lowercasedString, integrationId: $0.integrationId, connectionId: $0.connectionId,
                      provider: $0.provider, status: $0.status, authType: $0.authType, fingerprint: $0.fingerprint,
                      expiresAt: Stamp($0.expiresAt), lastRefreshedAt: Stamp($0.lastRefreshedAt), refreshFailures: $0.refreshFailures,
                      lastRefreshError: $0.lastRefreshError)
            }))
    }
}
