import Logging
import MarketplaceCore
import PostgresNIO
import Storage
import Testing
import TestSupport

/// Postgres cancels a statement that runs past `DB_STATEMENT_TIMEOUT_MS`: a slow query cannot hold a pooled
/// connection; migrations lift the bound for their own transaction.
@Suite(.timeLimit(.minutes(10))) struct StatementTimeoutTests {
    @Test func aStatementPastTheTimeoutIsCancelledAndMigrationsAreExempt() async throws {
        try await TestDatabase.with { configuration in
            var bounded = configuration
            bounded.statementTimeout = .milliseconds(300)
            try await Database.running(bounded) { database in
                let shown = try await database.query("SHOW statement_timeout", logger: TestEnvironment.logger)
                #expect(try shown.map { try $0.decode(String.self) } == ["300ms"])
                await #expect(throws: PSQLError.self) {
                    _ = try await database.query("SELECT pg_sleep(2)", logger: TestEnvironment.logger)
                }
                // The pool's connection is usable again at once.
                let one = try await database.query("SELECT 1", logger: TestEnvironment.logger)
                #expect(try one.map { try $0.decode(Int.self) } == [1])
                // Migrations run with no timeout of their own.
                let applied = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                #expect(!applied.applied.isEmpty)
            }
        }
    }
}
