import Foundation
import Logging
import MarketplaceCore
import NIOCore
import PostgresNIO

/// A connection's credentials as ops may see them (a fingerprint, never a token).
public typealias CredentialSummary = ConnectionCredentialsTable.Summary

/// SQL for `connection_credentials`: tokens only ever as sealed bytes.
public enum ConnectionCredentialsTable {
    public struct Sealed: Sendable {
        public var authType: String
        public var accessToken: [UInt8]
        public var refreshToken: [UInt8]?
        public var fingerprint: String
        public var expiresAt: Date?

        public init(authType: String, accessToken: [UInt8], refreshToken: [UInt8]?, fingerprint: String, expiresAt: Date?) {
            self.authType = authType
            self.accessToken = accessToken
            self.refreshToken = refreshToken
            self.fingerprint = fingerprint
            self.expiresAt = expiresAt
        }
    }

    public static func upsert(_ credentials: Sealed, companyID: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        let access = ByteBuffer(bytes: credentials.accessToken)
        let refresh = credentials.refreshToken.map { ByteBuffer(bytes: $0) }
        try await connection.query("""
            INSERT INTO connection_credentials (company_id, auth_type, access_token_sealed, refresh_token_sealed, token_fingerprint,
                                                expires_at, last_refreshed_at)
            VALUES (\(companyID), \(credentials.authType), \(access), \(refresh), \(credentials.fingerprint), \(credentials.expiresAt), now())
            ON CONFLICT (company_id) DO UPDATE SET
                auth_type = EXCLUDED.auth_type, access_token_sealed = EXCLUDED.access_token_sealed,
                refresh_token_sealed = COALESCE(EXCLUDED.refresh_token_sealed, connection_credentials.refresh_token_sealed),
                token_fingerprint = EXCLUDED.token_fingerprint, expires_at = EXCLUDED.expires_at, last_refreshed_at = now(),
                refresh_failures = 0, last_refresh_error = NULL, last_refresh_error_at = NULL, updated_at = now()
            """, logger: logger)
    }
}

extension ConnectionCredentialsTable {
    /// Nango no longer shows the token (a key without the read-credentials scope): a stale copy must not outlive it.
    public static func forget(companyID: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("DELETE FROM connection_credentials WHERE company_id = \(companyID)", logger: logger)
    }
}

extension ConnectionCredentialsTable {
    /// What the admin API shows of a connection's credentials: never a token, only a short fingerprint.
    public struct Summary: Sendable, Equatable {
        public var companyId: UUID
        public var integrationId: String
        public var connectionId: String
        public var provider: String
        public var status: String
        public var authType: String
        public var fingerprint: String?
        public var expiresAt: Date?
        public var lastRefreshedAt: Date?
        public var refreshFailures: Int
        public var lastRefreshError: String?
    }

    public static func summaries(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [Summary] {
        let rows = try await connection.query("""
            SELECT c.id, c.integration_id, c.connection_id, c.provider, c.status, cc.auth_type, cc.token_fingerprint, cc.expires_at, cc.last_refreshed_at,
                   cc.refresh_failures, cc.last_refresh_error
            FROM connection_credentials cc JOIN companies c ON c.id = cc.company_id
            ORDER BY cc.expires_at NULLS LAST, c.id LIMIT \(limit)
            """, logger: logger)
        var result: [Summary] = []
        for try await row in rows.decode((UUID, String, String, String, String, String, String?, Date?, Date?, Int, String?).self) {
            result.append(Summary(companyId: row.0, integrationId: row.1, connectionId: row.2, provider: row.3, status: row.4, authType: row.5,
                                  fingerprint: row.6.map { String($0.prefix(8)) + "…" }, expiresAt: row.7, lastRefreshedAt: row.8,
                                  refreshFailures: row.9, lastRefreshError: row.10))
        }
        return result
    }
}

extension ConnectionCredentialsTable {
    /// Companies that can still refresh (active, or whose last refresh failed) and whose token expires within
    /// `window`; every such company with `all`.
    public static func dueForRefresh(within window: Duration, all: Bool, on connection: PostgresConnection, logger: Logger) async throws -> [ConnectionIdentity] {
        let rows = try await connection.query("""
            SELECT c.integration_id, c.connection_id
            FROM companies c JOIN connection_credentials cc ON cc.company_id = c.id
            WHERE c.status IN (\(CompanyStatus.active.rawValue), \(CompanyStatus.refreshFailed.rawValue))
              AND (\(all) OR cc.expires_at < now() + make_interval(secs => \(Double(window.components.seconds))))
            ORDER BY c.integration_id, c.connection_id
            """, logger: logger)
        var due: [ConnectionIdentity] = []
        for try await (integration, connectionId) in rows.decode((String, String).self) {
            due.append(ConnectionIdentity(integrationId: integration, connectionId: connectionId))
        }
        return due
    }
}
