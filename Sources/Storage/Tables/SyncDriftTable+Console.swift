import Foundation
import Logging
import MarketplaceCore
import PostgresNIO

/// An open drift as the console's overview lists it: with its company's name.
public struct OpenDriftListing: Sendable, Equatable {
    public var companyId: UUID
    public var companyName: String?
    public var identity: ConnectionIdentity
    public var model: String
    public var nangoCount: Int
    public var ourCount: Int
    public var detectedAt: Date
}

/// One model of a company as the drift check last left it: its drift on record (nil fields when it never drifted)
/// and what its last check found (`sync_state.drift_check_result`, nil when never checked).
public struct ModelDriftStatus: Sendable, Equatable {
    public var model: String
    public var state: DriftState?
    public var nangoCount: Int?
    public var ourCount: Int?
    public var detectedAt: Date?
    public var healedAt: Date?
    public var checkedAt: Date?
    public var checkResult: String?
}

/// The console's reads of `sync_drift`.
extension SyncDriftTable {
    /// How many drifts are open, and the `limit` newest of them (newest detected first), from `sync_drift_state_idx`.
    public static func openSummary(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> (count: Int, newest: [OpenDriftListing]) {
        var count = 0
        for try await open in try await connection.query("SELECT count(*)::int FROM sync_drift WHERE state = 'open'", logger: logger).decode(Int.self) {
            count = open
        }
        let rows = try await connection.query("""
            SELECT d.company_id, c.name, d.integration_id, d.connection_id, d.model, d.nango_count, d.our_count, d.detected_at
            FROM sync_drift d JOIN companies c ON c.id = d.company_id
            WHERE d.state = 'open'
            ORDER BY d.detected_at DESC, d.company_id DESC, d.model DESC LIMIT \(limit)
            """, logger: logger)
        var newest: [OpenDriftListing] = []
        for try await (company, name, integration, connectionId, model, nango, ours, detected) in rows.decode((UUID, String?, String, String, String, Int, Int, Date).self) {
            newest.append(OpenDriftListing(
                companyId: company, companyName: name, identity: ConnectionIdentity(integrationId: integration, connectionId: connectionId),
                model: model, nangoCount: nango, ourCount: ours, detectedAt: detected))
        }
        return (count, newest)
    }

    /// Every model of a company that drifted or was checked, by model: its drift (if any) beside its last check.
    public static func companyStatus(
        companyId: UUID, identity: ConnectionIdentity, on connection: PostgresConnection, logger: Logger
    ) async throws -> [ModelDriftStatus] {
        let rows = try await connection.query("""
            SELECT coalesce(d.model, s.model), d.state, d.nango_count, d.our_count, d.detected_at, d.healed_at, s.drift_checked_at, s.drift_check_result
            FROM (SELECT model, state, nango_count, our_count, detected_at, healed_at FROM sync_drift WHERE company_id = \(companyId)) d
            FULL JOIN (SELECT model, drift_checked_at, drift_check_result FROM sync_state
                       WHERE integration_id = \(identity.integrationId) AND connection_id = \(identity.connectionId)
                         AND drift_check_result IS NOT NULL) s ON s.model = d.model
            ORDER BY 1
            """, logger: logger)
        var status: [ModelDriftStatus] = []
        for try await (model, state, nango, ours, detected, healed, checked, result)
            in rows.decode((String, String?, Int?, Int?, Date?, Date?, Date?, String?).self) {
            status.append(ModelDriftStatus(
                model: model, state: state.flatMap(DriftState.init(rawValue:)), nangoCount: nango, ourCount: ours, detectedAt: detected,
                healedAt: healed, checkedAt: checked, checkResult: result))
        }
        return status
    }

    /// Moves whenever a drift is opened, re-counted, re-read, announced, healed or removed (the table holds a row per
    /// model that ever drifted: small).
    public static func lastChange(on connection: PostgresConnection, logger: Logger) async throws -> String {
        let rows = try await connection.query("""
            SELECT count(*) || '.' || coalesce(extract(epoch FROM max(updated_at))::text, '0') FROM sync_drift
            """, logger: logger)
        for try await signature in rows.decode(String.self) { return signature }
        return ""
    }
}
