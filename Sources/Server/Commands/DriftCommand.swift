import ArgumentParser
import Foundation
import Logging
import MarketplaceCore
import Nango
import Pipeline
import PostgresNIO
import Storage

/// `marketplace drift check [--company-id ID]`: compares Nango's record counts with ours now, every active company's
/// models (or one company's), and prints what each check found (docs/drift.md). A mismatch is recorded and its full
/// re-read queued for the running service's workers, as the scheduled check does.
struct DriftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "drift", abstract: "The drift check: Nango's record counts against ours.",
                                                    subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check every active company's models (or one company's) now, and print the results.")

        @OptionGroup var environment: EnvironmentOptions
        @Option(help: "Only this company (its uuid).") var companyId: String?

        func run() async throws {
            var company: UUID?
            if let companyId {
                guard let id = UUID(uuidString: companyId) else { throw PipelinesCommand.fail("marketplace: --company-id must be a uuid") }
                company = id
            }
            let configuration = try environment.load()
            let logger = LoggingBootstrap.bootstrap(configuration.logs)
            let registry = PipelineRegistry(path: configuration.pipelinesFile)
            if case .failure(let errors) = registry.reload() {
                throw PipelinesCommand.fail(errors.diagnostics.map(\.description).joined(separator: "\n"))
            }
            let database = Database(configuration: configuration.database, logger: logger)
            var nangoConfiguration = NangoClient.Configuration(baseURL: configuration.nango.baseURL, secretKey: configuration.nango.secretKey)
            nangoConfiguration.rateLimitJitter = configuration.nango.rateLimitJitter
            let nango = NangoClient(configuration: nangoConfiguration, logger: logger)
            let check = DriftCheck(database: database, nango: nango, registry: registry)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await database.run() }
                defer { group.cancelAll() }
                let pairs = try await check.pairs(companyId: company, logger: logger)
                var drifts = 0
                for pair in pairs {
                    let result = try await check.check(pair.identity, model: pair.model, lease: nil, logger: logger)
                    if case .skipped = result.verdict {} else if result.nangoCount != result.ourCount { drifts += 1 }
                    print("\(pair.identity.integrationId)/\(pair.identity.connectionId) \(pair.model): \(result.summary)")
                }
                print("\(pairs.count) model(s) checked, \(drifts) drift(s)")
            }
        }
    }
}
