import Foundation
import Logging
import MarketplaceCore
import Nango
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Pipeline

/// A job's writes are fenced by its lease, its last one included: a worker that stalls past its lease and wakes up
/// after another worker took the job over writes nothing. The interleavings are driven step by step, not raced.
@Suite(.timeLimit(.minutes(10))) struct FencedJobWritesTests {
    static let logger = TestEnvironment.logger
    static let identity = ConnectionIdentity(integrationId: "salesforce", connectionId: "c1")

    struct Fixture: Sendable {
        let database: Database
        let company: CompanyRecord
        let pipeline: PipelineDefinition
        let runner: FullResyncRunner
    }

    /// A company holding three contacts of the pipeline's model written an hour ago, and an open full resync that has
    /// seen all three.
    static func fixture(_ database: Database) async throws -> (Fixture, FullResyncsTable.Open) {
        let pipeline = try #require(RecordProcessorTests.shipped.pipeline(named: "salesforce-contacts"))
        let model = pipeline.source.model
        let (company, resync) = try await database.withConnection { db in
            try await db.query("""
                INSERT INTO companies (connection_id, integration_id, provider, name) VALUES ('c1', 'salesforce', 'salesforce', 'C')
                """, logger: logger)
            let company = try #require(try await CompaniesTable.find(identity, on: db, logger: logger))
            try await db.query("""
                INSERT INTO contacts (company_id, external_id, source_model, content_hash, raw, updated_at)
                SELECT \(company.id), 'r' || n, \(model), 'h', jsonb_build_object('id', 'r' || n), now() - interval '1 hour'
                FROM generate_series(1, 3) AS n
                """, logger: logger)
            try await FullResyncsTable.request(identity, model: model, reason: "test", on: db, logger: logger)
            let resync = try #require(try await FullResyncsTable.begin(identity, model: model, on: db, logger: logger))
            try await FullResyncsTable.advance(id: resync.id, cursor: "end", seen: ["r1", "r2", "r3"], on: db, logger: logger)
            return (company, resync)
        }
        let nango = NangoClient(configuration: .init(baseURL: "http://127.0.0.1:9", secretKey: Secret("unused")), logger: logger)
        let registry = PipelineRegistry(path: PipelineLoaderTests.repositoryFile, initial: RecordProcessorTests.shipped)
        let runner = FullResyncRunner(nango: nango, database: database, registry: registry, logger: logger)
        return (Fixture(database: database, company: company, pipeline: pipeline, runner: runner), resync)
    }

    /// The job claimed by `owner`, as its worker sees it.
    static func claim(_ owner: String, _ database: Database) async throws -> JobContext {
        let job = try #require(try await database.withConnection { db in
            try await JobsTable.claim(owner: owner, lease: .seconds(30), on: db, logger: logger)
        })
        return JobContext(job: job, owner: owner, isStopping: { false })
    }

    /// The worker holding the job stops answering; the reaper takes the job back once its lease has run out.
    static func expireLease(_ database: Database) async throws {
        try await database.withConnection { db in
            try await db.query("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE status = 'running'", logger: logger)
            #expect(try await JobsTable.reapExpiredLeases(maxAttempts: 8, on: db, logger: logger) == 1)
        }
    }

    static func liveContacts(_ database: Database, company: UUID) async throws -> Int {
        try await database.withConnection { db in
            try await db.query("SELECT count(*)::int FROM contacts WHERE company_id = \(company) AND deleted_at IS NULL", logger: logger)
                .collect()[0].decode(Int.self)
        }
    }

    static func runIds(_ fixture: Fixture, context: JobContext) async throws -> [Int64] {
        try await fixture.database.withConnection { db in
            [try await PipelineRunsTable.start(
                pipeline: fixture.pipeline.name, pipelineHash: "t", companyId: fixture.company.id, connectionId: "c1",
                model: fixture.pipeline.source.model, jobId: context.job.id, on: db, logger: logger)]
        }
    }

    /// Worker A read the whole model and stalls before its last step; B takes the job over, finds the same open resync
    /// and finishes it (dropping its seen marks). When A wakes, its deletion of the unseen rows would find no mark and
    /// delete every row: it must write nothing.
    @Test func aStalledWorkersLastFullResyncStepDeletesNothingAfterATakeover() async throws {
        try await TestDatabase.withClient { database in
            let (fixture, resync) = try await Self.fixture(database)
            let model = fixture.pipeline.source.model
            try await database.withConnection { db in
                _ = try await JobsTable.enqueue(FullResyncJob(Self.identity, model: model, reason: "test").newJob(), eventID: nil, on: db, logger: Self.logger)
            }
            let workerA = try await Self.claim("worker-a", database)
            let runsA = try await Self.runIds(fixture, context: workerA)
            try await Self.expireLease(database)
            let workerB = try await Self.claim("worker-b", database)
            let runsB = try await Self.runIds(fixture, context: workerB)
            let deletedByB = try await fixture.runner.deleteUnseen(
                resync, pipelines: [fixture.pipeline], runIds: runsB, company: fixture.company, model: model, context: workerB, logger: Self.logger)
            #expect(deletedByB == 0, "every row was seen")
            await #expect(throws: JobError.self) {
                _ = try await fixture.runner.deleteUnseen(
                    resync, pipelines: [fixture.pipeline], runIds: runsA, company: fixture.company, model: model, context: workerA, logger: Self.logger)
            }
            #expect(try await Self.liveContacts(database, company: fixture.company.id) == 3)
        }
    }

    /// The resync's own rule, apart from the lease: a run that holds its job's lease but finds its resync already
    /// finished (by a run of an earlier job of the key) deletes nothing.
    @Test func aFinishedResyncIsNotDeletedByAgain() async throws {
        try await TestDatabase.withClient { database in
            let (fixture, resync) = try await Self.fixture(database)
            let model = fixture.pipeline.source.model
            try await database.withConnection { db in
                try await FullResyncsTable.finish(id: resync.id, deleted: 0, on: db, logger: Self.logger)
                _ = try await JobsTable.enqueue(FullResyncJob(Self.identity, model: model, reason: "test").newJob(), eventID: nil, on: db, logger: Self.logger)
            }
            let worker = try await Self.claim("worker-c", database)
            let deleted = try await fixture.runner.deleteUnseen(
                resync, pipelines: [fixture.pipeline], runIds: try await Self.runIds(fixture, context: worker), company: fixture.company,
                model: model, context: worker, logger: Self.logger)
            #expect(deleted == nil)
            #expect(try await Self.liveContacts(database, company: fixture.company.id) == 3)
        }
    }

    /// A job's reads run read-only: a write slipped into one is refused by Postgres, not committed unfenced.
    @Test func aWriteInsideAJobsReadIsRefused() async throws {
        _ = try await TestDatabase.withClient { database in
            await #expect(throws: PSQLError.self) {
                try await database.read(logger: Self.logger) { db in
                    _ = try await db.query("INSERT INTO companies (connection_id, integration_id, provider, name) VALUES ('x', 'y', 'z', 'n')", logger: Self.logger)
                }
            }
        }
    }
}
