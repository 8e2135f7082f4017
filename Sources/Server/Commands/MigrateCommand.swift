import Foundation
import ArgumentParser
import Logging
import MarketplaceCore
import PostgresNIO
import Storage

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending database migrations and exit (safe to run from several processes at once)."
    )

    @OptionGroup var environment: EnvironmentOptions

    @Flag(help: "Only print what is applied and what is pending.")
    var status = false

    func run() async throws {
        let (_, database, logs) = try environment.loadDatabase()
        let logger = LoggingBootstrap.bootstrap(logs)
        let client = Database(configuration: database, logger: logger)
        let migrator = Migrator(migrations: try Migration.bundled())
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do {
                _ = try await client.ping(timeout: database.fastTimeout * 5, logger: logger)
            } catch {
                FileHandle.standardError.write(Data("marketplace: cannot reach postgres at \(database.maskedURL): \(error)\n".utf8))
                throw ExitCode.failure
            }
            if status {
                let current = try await migrator.status(client, logger: logger)
                print("applied: \(current.applied), pending: \(current.pending.isEmpty ? "none" : current.pending.joined(separator: ", "))")
                return
            }
            do {
                let report = try await migrator.migrate(client, logger: logger)
                print(report.applied.isEmpty
                    ? "migrations: up to date (\(report.alreadyApplied) applied)"
                    : "migrations: applied \(report.applied.joined(separator: ", "))")
            } catch let error as MigrationError {
                FileHandle.standardError.write(Data("marketplace: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }
    }
}
