import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// An open quarantine entry closes when its record passes or is deleted, as of that version's time: an older version
/// (a page fetched before the invalid one was quarantined) leaves it open.
@Suite(.timeLimit(.minutes(10))) struct QuarantineResolveTests {
    static let logger = TestEnvironment.logger

    @Test func anEntryClosesOnlyForAVersionAtLeastAsNewAsItsOwn() async throws {
        try await TestDatabase.withClient { database in
            let company = UUID()
            try await database.withConnection { db in
                try await db.query("""
                    INSERT INTO companies (id, connection_id, integration_id, provider) VALUES (\(company), 'q-1', 'hubspot', 'hubspot')
                    """, logger: Self.logger)
                var rows = QuarantineRows()
                for (key, at) in [("c-1", "2026-05-01T10:00:00.000Z"), ("c-2", "2026-05-01T10:00:00.000Z"), ("c-3", "")] {
                    rows.externalIds.append(key)
                    rows.recordKeys.append(key)
                    rows.sourceUpdatedAt.append(at)
                    rows.reasons.append(#"[{"field": "email", "message": "is not an email"}]"#)
                    rows.raw.append(#"{"id": "\#(key)"}"#)
                }
                try await QuarantineTable.upsert(rows, pipeline: "p", companyId: company, connectionId: "q-1", model: "Contact", runId: nil,
                                                 on: db, logger: Self.logger)
                try await QuarantineTable.resolve(
                    recordKeys: ["c-1", "c-2", "c-3"],
                    sourceUpdatedAt: ["2026-05-01T09:59:59.999Z", "2026-05-01T10:00:00.000Z", "2026-04-01T00:00:00.000Z"],
                    pipeline: "p", companyId: company, on: db, logger: Self.logger)
            }
            let rows = try await database.query("SELECT record_key, status FROM quarantine ORDER BY record_key", logger: Self.logger)
            let statuses = try rows.map { try $0.decode((String, String).self) }
            #expect(statuses.count == 3)
            #expect(statuses.map(\.0) == ["c-1", "c-2", "c-3"])
            #expect(statuses.map(\.1) == ["open", "resolved", "resolved"], "older than the entry: open; as new: closed; entry without a time: closed")
        }
    }
}
