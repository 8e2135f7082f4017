import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Pipeline

/// No write to a table clients read commits without its cache version bump in the same transaction: a page cached
/// before the write is never served after it, whether the writer stops halfway or the bump itself fails.
@Suite(.timeLimit(.minutes(10))) struct VersionedWriteTests {
    static let logger = TestEnvironment.logger

    static func version(_ database: Database, company: UUID, _ resource: CachedResource) async throws -> Int64 {
        try await database.withConnection { db in try await CacheVersionsTable.version(companyId: company, resource: resource, on: db, logger: logger) }
    }

    /// A re-derivation that stops after its first page (killed, or its lease lost) never reaches its end: the page it
    /// committed must already have bumped the version, or cached pages older than its rows live until their TTL.
    @Test func aReDerivationsFirstPageBumpsTheVersionWithItsRows() async throws {
        try await TestDatabase.withClient { database in
            let (fixture, _) = try await FencedJobWritesTests.fixture(database)
            let company = fixture.company
            try await database.withConnection { db in
                _ = try await JobsTable.enqueue(NewJob(kind: "pipeline.rederive", payload: [:]), eventID: nil, on: db, logger: Self.logger)
            }
            let worker = try await FencedJobWritesTests.claim("worker-a", database)
            let runIds = try await FencedJobWritesTests.runIds(fixture, context: worker)
            #expect(try await Self.version(database, company: company.id, .lists(.contacts)) == 0)
            let runner = RederiveRunner(database: database, registry: fixture.runner.registry, logger: Self.logger)
            try await runner.write(
                [StoredRecord(raw: #"{"id":"r1","first_name":"Rose","last_name":"Gonzalez","email":"rose@edge.com"}"#, sourceUpdatedAt: Date())],
                processor: RecordProcessor(pipeline: fixture.pipeline, versionTag: "t"), company: company, runId: runIds[0], context: worker,
                logger: Self.logger)
            let name = try await database.withConnection { db in
                try await db.query("SELECT display_name FROM contacts WHERE company_id = \(company.id) AND external_id = 'r1'", logger: Self.logger)
                    .collect()[0].decode(String?.self)
            }
            #expect(name == "Rose Gonzalez", "the page was written")
            #expect(try await Self.version(database, company: company.id, .lists(.contacts)) == 1, "and its version bumped with it")
        }
    }

    /// A company's status change whose bump fails commits nothing: the client never sees the new status under an
    /// answer cached before it.
    @Test func aStatusChangeWhoseBumpFailsIsNotCommitted() async throws {
        try await TestDatabase.withClient { database in
            let (fixture, _) = try await FencedJobWritesTests.fixture(database)
            try await database.withConnection { db in
                try await db.query("""
                    CREATE FUNCTION test_refuse_bump() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'test: the version bump is refused'; END $$
                    """, logger: Self.logger)
                try await db.query("""
                    CREATE TRIGGER test_refuse_bump BEFORE INSERT OR UPDATE ON cache_versions FOR EACH ROW EXECUTE FUNCTION test_refuse_bump()
                    """, logger: Self.logger)
            }
            await #expect(throws: PSQLError.self) {
                _ = try await changeCompanyStatus(
                    FencedJobWritesTests.identity, to: .disconnected, reason: "gone", database: database, lease: nil, logger: Self.logger)
            }
            let status = try await database.withConnection { db in
                try await CompaniesTable.find(id: fixture.company.id, on: db, logger: Self.logger)?.status
            }
            #expect(status == .active)
        }
    }
}
