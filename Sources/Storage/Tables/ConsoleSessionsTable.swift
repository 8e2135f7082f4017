import Foundation
import Logging
import PostgresNIO

/// A console sign-in as the table keeps it (the cookie's id only as its hash).
public struct ConsoleSessionRecord: Sendable, Equatable {
    public var role: String
    public var csrfToken: String
    public var tokenFingerprint: String
    public var expiresAt: Date
}

/// SQL for `console_sessions`.
public enum ConsoleSessionsTable {
    public static func create(
        idHash: [UInt8], role: String, csrfToken: String, tokenFingerprint: String, address: String, ttl: Duration,
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        // Expired sessions go as new ones come: the table stays as small as the sign-ins still open.
        try await connection.query("DELETE FROM console_sessions WHERE expires_at < now()", logger: logger)
        try await connection.query("""
            INSERT INTO console_sessions (id_hash, role, csrf_token, token_fingerprint, address, expires_at)
            VALUES (\(ByteBuffer(bytes: idHash)), \(role), \(csrfToken), \(tokenFingerprint), \(address),
                    now() + make_interval(secs => \(Double(ttl.components.seconds))))
            """, logger: logger)
    }

    /// The session of a cookie, when it exists and has not expired.
    public static func find(idHash: [UInt8], on connection: PostgresConnection, logger: Logger) async throws -> ConsoleSessionRecord? {
        let rows = try await connection.query("""
            SELECT role, csrf_token, token_fingerprint, expires_at FROM console_sessions
            WHERE id_hash = \(ByteBuffer(bytes: idHash)) AND expires_at > now()
            """, logger: logger)
        for try await (role, csrf, fingerprint, expires) in rows.decode((String, String, String, Date).self) {
            return ConsoleSessionRecord(role: role, csrfToken: csrf, tokenFingerprint: fingerprint, expiresAt: expires)
        }
        return nil
    }

    public static func delete(idHash: [UInt8], on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("DELETE FROM console_sessions WHERE id_hash = \(ByteBuffer(bytes: idHash))", logger: logger)
    }
}
