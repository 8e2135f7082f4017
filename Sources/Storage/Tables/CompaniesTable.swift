import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// A company row (its tokens live in `connection_credentials`); the API renders it with `CompanyView`.
public struct CompanyRecord: Sendable, Equatable {
    public var id: UUID
    public var connectionId: String
    public var integrationId: String
    public var provider: String
    public var externalId: String?
    public var name: String?
    public var status: CompanyStatus
    public var createdAt: Date
    public var updatedAt: Date

    public var identity: ConnectionIdentity { ConnectionIdentity(integrationId: integrationId, connectionId: connectionId) }
}

/// SQL for `companies`.
public enum CompaniesTable {
    static let columns = "id, connection_id, integration_id, provider, external_id, name, status, created_at, updated_at"

    /// The first company of rows selected with `columns`, or nil.
    static func first(_ rows: PostgresRowSequence) async throws -> CompanyRecord? {
        for try await row in rows.decode((UUID, String, String, String, String?, String?, String, Date, Date).self) {
            guard let status = CompanyStatus(rawValue: row.6) else { throw StorageError.unexpectedValue("companies.status", row.6) }
            return CompanyRecord(id: row.0, connectionId: row.1, integrationId: row.2, provider: row.3, externalId: row.4,
                                 name: row.5, status: status, createdAt: row.7, updatedAt: row.8)
        }
        return nil
    }

    /// Creates or refreshes the company of a Nango connection; a reconnected company becomes active again.
    public static func upsertConnection(
        _ identity: ConnectionIdentity, provider: String, externalId: String?, connectionMetadata: String,
        credentialsAvailable: Bool = true, on connection: PostgresConnection, logger: Logger
    ) async throws -> CompanyRecord {
        let active = CompanyStatus.active.rawValue
        let rows = try await connection.query("""
            INSERT INTO companies (connection_id, integration_id, provider, external_id, connection_metadata, status, status_changed_at,
                                   credentials_available)
            VALUES (\(identity.connectionId), \(identity.integrationId), \(provider), \(externalId), \(connectionMetadata)::jsonb, \(active), now(),
                    \(credentialsAvailable))
            ON CONFLICT (integration_id, connection_id) DO UPDATE SET
                provider = EXCLUDED.provider, credentials_available = EXCLUDED.credentials_available,
                external_id = COALESCE(EXCLUDED.external_id, companies.external_id),
                connection_metadata = EXCLUDED.connection_metadata,
                status_changed_at = CASE WHEN companies.status <> EXCLUDED.status THEN now() ELSE companies.status_changed_at END,
                status = EXCLUDED.status, status_reason = NULL, updated_at = now()
            RETURNING id, connection_id, integration_id, provider, external_id, name, status, created_at, updated_at
            """, logger: logger)
        guard let company = try await first(rows) else { throw StorageError.noRowReturned("companies upsert") }
        return company
    }
}

extension CompaniesTable {
    /// What a company token is checked against on use: the company's status and token generation (nil: no company).
    public static func tokenState(companyId: UUID, on connection: PostgresConnection, logger: Logger) async throws -> (status: CompanyStatus, generation: Int)? {
        let rows = try await connection.query("SELECT status, token_generation FROM companies WHERE id = \(companyId)", logger: logger)
        for try await (status, generation) in rows.decode((String, Int).self) {
            guard let status = CompanyStatus(rawValue: status) else { throw StorageError.unexpectedValue("companies.status", status) }
            return (status, generation)
        }
        return nil
    }

    /// Revokes every token issued for the company so far; returns the new generation (nil: no such company).
    public static func revokeTokens(companyId: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Int? {
        let rows = try await connection.query("""
            UPDATE companies SET token_generation = token_generation + 1, updated_at = now() WHERE id = \(companyId) RETURNING token_generation
            """, logger: logger)
        for try await generation in rows.decode(Int.self) { return generation }
        return nil
    }

    /// Whether a provider record has ever been stored as the company's profile.
    public static func hasProfile(companyId: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("SELECT source_updated_at IS NOT NULL FROM companies WHERE id = \(companyId)", logger: logger)
        for try await stored in rows.decode(Bool.self) { return stored }
        return false
    }

    public static func find(_ identity: ConnectionIdentity, on connection: PostgresConnection, logger: Logger) async throws -> CompanyRecord? {
        let rows = try await connection.query("""
            SELECT \(unescaped: columns) FROM companies WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId)
            """, logger: logger)
        return try await first(rows)
    }

    /// A status change from Nango (refresh failed, disconnected), with the reason kept.
    /// Returns the company's id, or nil when no company has this connection.
    public static func setStatus(
        _ identity: ConnectionIdentity, status: CompanyStatus, reason: String?, on connection: PostgresConnection, logger: Logger
    ) async throws -> UUID? {
        let rows = try await connection.query("""
            UPDATE companies SET status = \(status.rawValue), status_reason = \(reason),
                   status_changed_at = CASE WHEN status <> \(status.rawValue) THEN now() ELSE status_changed_at END, updated_at = now()
            WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId)
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(UUID.self) { return id }
        return nil
    }

    /// The profile of a connection's company from a pipeline with target `companies`; an older version never wins.
    public static func updateProfile(
        companyId: UUID, columns: [(name: String, sqlType: String, value: String)], sourceUpdatedAt: String, raw: String,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        var bindings = PostgresBindings()
        bindings.append(companyId)
        bindings.append(sourceUpdatedAt)
        bindings.append(raw)
        var assignments: [String] = []
        for (index, column) in columns.enumerated() {
            precondition(column.name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" })
            assignments.append("\(column.name) = NULLIF($\(index + 4), '')::\(column.sqlType)")
            bindings.append(column.value)
        }
        let sql = """
            UPDATE companies SET source_updated_at = $2::timestamptz, raw = $3::jsonb, last_synced_at = now(), updated_at = now()\(assignments.map { ", " + $0 }.joined())
            WHERE id = $1 AND (source_updated_at IS NULL OR source_updated_at <= $2::timestamptz)
            RETURNING id
            """
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        for try await _ in rows { return true }
        return false
    }

    public static func markSynced(companyId: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("UPDATE companies SET last_synced_at = now() WHERE id = \(companyId)", logger: logger)
    }
}

extension CompaniesTable {
    public static func find(id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> CompanyRecord? {
        let rows = try await connection.query("SELECT \(unescaped: columns) FROM companies WHERE id = \(id)", logger: logger)
        return try await first(rows)
    }
}

extension CompaniesTable {
    /// The record the company's profile was taken from, if a pipeline wrote one.
    public static func profileRecord(companyId: UUID, on connection: PostgresConnection, logger: Logger) async throws -> StoredRecord? {
        let rows = try await connection.query("""
            SELECT raw::text, source_updated_at FROM companies WHERE id = \(companyId) AND raw IS NOT NULL
            """, logger: logger)
        for try await (raw, updated) in rows.decode((String, Date?).self) { return StoredRecord(raw: raw, sourceUpdatedAt: updated) }
        return nil
    }

    /// Companies a source reads (all, or one) that can sync, with whether their model has been read before.
    public static func syncable(
        _ source: SourceSelector, companyId: UUID?, on connection: PostgresConnection, logger: Logger
    ) async throws -> [(identity: ConnectionIdentity, companyId: UUID, synced: Bool)] {
        let rows = try await connection.query("""
            SELECT c.integration_id, c.connection_id, c.id, (st.cursor IS NOT NULL)
            FROM companies c
            LEFT JOIN sync_state st ON st.integration_id = c.integration_id AND st.connection_id = c.connection_id AND st.model = \(source.model)
            WHERE (c.integration_id = \(source.integrationId) OR (\(source.integrationId)::text IS NULL AND c.provider = \(source.provider)))
              AND c.status = \(CompanyStatus.active.rawValue)
              AND (\(companyId)::uuid IS NULL OR c.id = \(companyId))
            ORDER BY c.connection_id
            """, logger: logger)
        var result: [(ConnectionIdentity, UUID, Bool)] = []
        for try await (integration, connectionId, id, synced) in rows.decode((String, String, UUID, Bool).self) {
            result.append((ConnectionIdentity(integrationId: integration, connectionId: connectionId), id, synced))
        }
        return result.map { (identity: $0.0, companyId: $0.1, synced: $0.2) }
    }
}

extension CompaniesTable {
    /// A company in the console's list: its row and when a sync last completed for it.
    public struct Listed: Sendable, Equatable {
        public var company: CompanyRecord
        public var lastSyncedAt: Date?
    }

    /// Companies by connection, a keyset page after `after` (integration, connection).
    public static func list(after: ConnectionIdentity?, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [Listed] {
        let rows = try await connection.query("""
            SELECT \(unescaped: columns), last_synced_at FROM companies
            WHERE \(after?.integrationId)::text IS NULL OR (integration_id, connection_id) > (\(after?.integrationId), \(after?.connectionId))
            ORDER BY integration_id, connection_id LIMIT \(limit)
            """, logger: logger)
        var listed: [Listed] = []
        for try await row in rows.decode((UUID, String, String, String, String?, String?, String, Date, Date, Date?).self) {
            guard let status = CompanyStatus(rawValue: row.6) else { throw StorageError.unexpectedValue("companies.status", row.6) }
            listed.append(Listed(
                company: CompanyRecord(id: row.0, connectionId: row.1, integrationId: row.2, provider: row.3, externalId: row.4,
                                       name: row.5, status: status, createdAt: row.7, updatedAt: row.8),
                lastSyncedAt: row.9))
        }
        return listed
    }
}
