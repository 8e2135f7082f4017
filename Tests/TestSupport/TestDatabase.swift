import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Storage

/// A database of the test's own, created empty and dropped afterwards, so tests running in
/// parallel (and runs after each other) never see each other's rows.
public enum TestDatabase {
    public static func with<Result: Sendable>(
        _ body: @Sendable (AppConfiguration.Database) async throws -> Result
    ) async throws -> Result {
        let admin = try AppConfiguration.Database.load(environment: ["DATABASE_URL": TestEnvironment.databaseURL])
        let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try await execute("CREATE DATABASE \(name)", on: admin)
        var configuration = admin
        configuration.name = name
        configuration.poolSize = 8
        do {
            let result = try await body(configuration)
            await drop(name, on: admin)
            return result
        } catch {
            await drop(name, on: admin)
            throw error
        }
    }

    /// Best effort: an autovacuum worker can hold the database for a moment, so a few tries;
    /// a database left behind costs disk, never a test result.
    private static func drop(_ name: String, on admin: AppConfiguration.Database) async {
        for attempt in 1...5 {
            do {
                try await execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", on: admin)
                return
            } catch {
                try? await Task.sleep(for: .milliseconds(100 * attempt))
            }
        }
    }

    /// A running client on a fresh database, with the shipped migrations applied when `migrated`.
    public static func withClient<Result: Sendable>(
        migrated: Bool = true,
        _ body: @Sendable (Database) async throws -> Result
    ) async throws -> Result {
        try await with { configuration in
            try await Database.running(configuration) { database in
                if migrated {
                    _ = try await Migrator(migrations: try Migration.bundled()).migrate(database, logger: TestEnvironment.logger)
                }
                return try await body(database)
            }
        }
    }

    private static func execute(_ sql: String, on configuration: AppConfiguration.Database) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password?.value, database: configuration.name, tls: .disable),
            id: 1, logger: TestEnvironment.logger
        )
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestEnvironment.logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

extension Database {
    /// Runs the pool for the duration of `body` (outside a ServiceGroup, as tests need).
    public static func running<Result: Sendable>(
        _ configuration: AppConfiguration.Database,
        _ body: @Sendable (Database) async throws -> Result
    ) async throws -> Result {
        let database = Database(configuration: configuration, logger: TestEnvironment.logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            defer { group.cancelAll() }
            return try await body(database)
        }
    }
}
