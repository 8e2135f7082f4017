import Foundation
import Logging
import NIOCore
import PostgresNIO

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
