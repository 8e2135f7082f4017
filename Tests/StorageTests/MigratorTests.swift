import Logging
import PostgresNIO
import Storage
import Testing
import TestSupport

@Suite(.timeLimit(.minutes(10))) struct MigratorTests {
    let logger = TestEnvironment.logger

    func tables(_ database: Database) async throws -> Set<String> {
        let rows = try await database.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'", logger: logger)
        return Set(try rows.map { try $0.decode(String.self) })
    }

    @Test func appliesTheWholeSchemaOnceAndNothingTheSecondTime() async throws {
        try await TestDatabase.withClient(migrated: false) { database in
            let migrator = Migrator(migrations: try Migration.bundled())
            #expect(try await migrator.status(database, logger: logger).pending.count == migrator.migrations.count)

            let first = try await migrator.migrate(database, logger: logger)
            #expect(first.applied == migrator.migrations.map(\.name))
            let expected: Set<String> = [
                "companies", "connection_credentials", "locations", "contacts", "products", "webhook_events",
                "jobs", "sync_state", "pipeline_runs", "quarantine", "schema_migrations",
            ]
            #expect(try await tables(database).isSuperset(of: expected))

            let second = try await migrator.migrate(database, logger: logger)
            #expect(second.applied.isEmpty)
            #expect(second.alreadyApplied == migrator.migrations.count)
            #expect(try await migrator.status(database, logger: logger).isCurrent)
        }
    }

    @Test func twoProcessesAtOnceApplyEachMigrationExactlyOnce() async throws {
        try await TestDatabase.with { configuration in
            let migrations = try Migration.bundled()
            // Two independent pools are two sessions, exactly as two processes would be.
            let reports = try await withThrowingTaskGroup(of: Migrator.Report.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await Database.running(configuration) { database in
                            try await Migrator(migrations: migrations).migrate(database, logger: logger)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let appliedCounts = reports.map(\.applied.count).sorted()
            #expect(appliedCounts == [0, migrations.count], "one applies everything, the other waits and finds nothing")
            try await Database.running(configuration) { database in
                let rows = try await database.query("SELECT count(*), count(DISTINCT version) FROM schema_migrations", logger: logger)
                let (count, distinct) = try rows[0].decode((Int, Int).self)
                #expect(count == migrations.count && distinct == migrations.count)
            }
        }
    }

    @Test func anEditedAppliedMigrationIsRefused() async throws {
        try await TestDatabase.withClient { database in
            var migrations = try Migration.bundled()
            let original = migrations[1]
            migrations[1] = Migration(version: original.version, name: original.name, sql: original.sql + "\n-- edited\n")
            let edited = Migrator(migrations: migrations)
            do {
                _ = try await edited.migrate(database, logger: logger)
                Issue.record("an edited migration was accepted")
            } catch let error as MigrationError {
                guard case .checksumMismatch(let version, let name, _, _) = error else {
                    Issue.record("wrong error \(error)")
                    return
                }
                #expect(version == original.version && name == original.name)
                #expect(error.description.contains("edited after it was applied"))
            }
            await #expect(throws: MigrationError.self) { try await edited.status(database, logger: logger) }
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        try await TestDatabase.withClient(migrated: false) { database in
            let broken = Migrator(migrations: [
                Migration(version: 1, name: "0001_ok", sql: "CREATE TABLE first_table (id int);"),
                Migration(version: 2, name: "0002_broken", sql: "CREATE TABLE second_table (id int);\nSELECT * FROM missing_table;"),
            ])
            await #expect(throws: MigrationError.statementFailed(
                name: "0002_broken", statement: 2, message: "relation \"missing_table\" does not exist")
            ) {
                try await broken.migrate(database, logger: logger)
            }
            let remaining = try await tables(database)
            #expect(!remaining.contains("first_table") && !remaining.contains("second_table"))
        }
    }

    @Test func duplicateVersionsAreRefused() {
        #expect(throws: MigrationError.duplicateVersion(3, "0003_a", "0003_b")) {
            try Migration.ordered([
                Migration(version: 3, name: "0003_a", sql: ""), Migration(version: 3, name: "0003_b", sql: ""),
            ])
        }
    }
}
