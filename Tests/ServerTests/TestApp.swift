import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MarketplaceCore
import Storage
import TestSupport

@testable import Server

/// Builds the real application against a database of the test's own and the test Redis.
enum TestApp {
    static func dependencies(
        _ overrides: [String: String] = [:], database: AppConfiguration.Database? = nil
    ) async throws -> Dependencies {
        var configuration = try TestEnvironment.configuration(overrides)
        if let database {
            let fastTimeout = configuration.database.fastTimeout
            configuration.database = database
            configuration.database.fastTimeout = fastTimeout
        }
        return try await Dependencies(configuration: configuration, logger: TestEnvironment.logger)
    }

    /// A migrated database, the app on it, and a test client.
    static func test<Result: Sendable>(
        _ setup: TestingSetup = .router,
        _ overrides: [String: String] = [:],
        _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Result
    ) async throws -> Result {
        try await TestDatabase.with { database in
            try await Database.running(database) { client in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(client, logger: TestEnvironment.logger)
            }
            let app = buildApplication(try await dependencies(overrides, database: database), port: 0, migrateOnStart: false, backgroundJobs: false)
            return try await app.test(setup, body)
        }
    }

    static func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
        return object as? [String: Any] ?? [:]
    }
}
