import Foundation
import Logging
import PostgresNIO
import Storage
import Testing
import TestSupport

/// Migration 7 makes (integration, connection) the company's identity: data written under the earlier
/// schema is kept whole and still linked, and the same connection id under a second integration fits.
@Suite(.timeLimit(.minutes(10))) struct CompanyIdentityMigrationTests {
    let logger = TestEnvironment.logger

    func count(_ database: Database, _ sql: String) async throws -> Int {
        try await database.query(PostgresQuery(unsafeSQL: sql), logger: logger).first?.decode(Int.self) ?? -1
    }

    @Test func existingRowsAreKeptAndLinkedAndThePairBecomesTheKey() async throws {
        try await TestDatabase.withClient(migrated: false) { database in
            let all = try Migration.bundled()
            let before = all.filter { $0.version < 7 }
            #expect(before.count == 6)
            _ = try await Migrator(migrations: before).migrate(database, logger: logger)
            // Two companies, a row of every table that names a connection, as the old code wrote them.
            let seed = """
                INSERT INTO companies (id, connection_id, integration_id, provider) VALUES
                    ('11111111-1111-1111-1111-111111111111', 'acme', 'hubspot', 'hubspot'),
                    ('22222222-2222-2222-2222-222222222222', 'globex', 'xero', 'xero');
                INSERT INTO connection_credentials (company_id, auth_type, access_token_sealed) VALUES
                    ('11111111-1111-1111-1111-111111111111', 'OAUTH2', '\\x01'), ('22222222-2222-2222-2222-222222222222', 'OAUTH2', '\\x02');
                INSERT INTO contacts (company_id, external_id, content_hash, raw) VALUES
                    ('11111111-1111-1111-1111-111111111111', 'c-1', 'h', '{}'), ('11111111-1111-1111-1111-111111111111', 'c-2', 'h', '{}'),
                    ('22222222-2222-2222-2222-222222222222', 'c-1', 'h', '{}');
                INSERT INTO sync_state (connection_id, model, integration_id, company_id, cursor) VALUES
                    ('acme', 'Contact', 'hubspot', '11111111-1111-1111-1111-111111111111', 'cursor-a'),
                    ('acme', 'Product', 'hubspot', '11111111-1111-1111-1111-111111111111', 'cursor-b'),
                    ('globex', 'Contact', 'xero', '22222222-2222-2222-2222-222222222222', 'cursor-c');
                INSERT INTO pipeline_runs (pipeline, company_id, connection_id, model) VALUES
                    ('hubspot-contacts', '11111111-1111-1111-1111-111111111111', 'acme', 'Contact');
                INSERT INTO quarantine (pipeline, company_id, connection_id, model, record_key, reasons, raw) VALUES
                    ('hubspot-contacts', '11111111-1111-1111-1111-111111111111', 'acme', 'Contact', 'c-9', '[]', '{}');
                INSERT INTO webhook_events (type, connection_id, integration_id, dedupe_key, raw_body) VALUES
                    ('sync', 'acme', 'hubspot', 'sha256:1', '{}');
                """
            for statement in seed.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) where !statement.isEmpty {
                _ = try await database.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }

            let report = try await Migrator(migrations: all).migrate(database, logger: logger)
            #expect(report.applied.first == "0007_company_identity")

            #expect(try await count(database, "SELECT count(*)::int FROM companies") == 2)
            #expect(try await count(database, "SELECT count(*)::int FROM connection_credentials cc JOIN companies c ON c.id = cc.company_id") == 2)
            #expect(try await count(database, "SELECT count(*)::int FROM contacts WHERE company_id = '11111111-1111-1111-1111-111111111111'") == 2)
            #expect(try await count(database, "SELECT count(*)::int FROM contacts WHERE company_id = '22222222-2222-2222-2222-222222222222'") == 1)
            #expect(try await count(database, """
                SELECT count(*)::int FROM sync_state s JOIN companies c
                  ON c.id = s.company_id AND c.integration_id = s.integration_id AND c.connection_id = s.connection_id
                """) == 3)
            #expect(try await count(database, "SELECT count(*)::int FROM sync_state WHERE cursor IN ('cursor-a', 'cursor-b', 'cursor-c')") == 3)
            #expect(try await count(database, "SELECT count(*)::int FROM pipeline_runs WHERE company_id IS NOT NULL") == 1)
            #expect(try await count(database, "SELECT count(*)::int FROM quarantine WHERE status = 'open' AND company_id IS NOT NULL") == 1)
            #expect(try await count(database, "SELECT count(*)::int FROM webhook_events") == 1)

            // The pair is the key now: 'acme' under a second integration is a second company with its own checkpoint …
            _ = try await database.query("""
                INSERT INTO companies (id, connection_id, integration_id, provider)
                VALUES ('33333333-3333-3333-3333-333333333333', 'acme', 'salesforce', 'salesforce')
                """, logger: logger)
            _ = try await database.query("""
                INSERT INTO sync_state (connection_id, model, integration_id, company_id, cursor)
                VALUES ('acme', 'Contact', 'salesforce', '33333333-3333-3333-3333-333333333333', 'cursor-d')
                """, logger: logger)
            #expect(try await count(database, "SELECT count(*)::int FROM sync_state WHERE connection_id = 'acme' AND model = 'Contact'") == 2)
            // … and the same pair twice is still refused.
            await #expect(throws: PSQLError.self) {
                _ = try await database.query(
                    "INSERT INTO companies (connection_id, integration_id, provider) VALUES ('acme', 'hubspot', 'hubspot')", logger: logger)
            }
        }
    }
}
