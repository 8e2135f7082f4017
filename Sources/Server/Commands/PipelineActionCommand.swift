import ArgumentParser
import Foundation
import Logging
import MarketplaceCore
import Pipeline
import PostgresNIO
import Storage

/// What a pipeline action command queues.
enum QueuedPipelineAction: Sendable {
    case action(PipelineActionJob.Action)
    case fullResync

    var name: String {
        switch self {
        case .action(let action): action.name
        case .fullResync: "full resync"
        }
    }
}

/// `marketplace pipelines backfill|rederive|full-resync NAME [--company-id ID]`: queues ops' action on a pipeline
/// for the running service's workers (the pipelines file and the database are the service's own).
protocol PipelineActionCommand: AsyncParsableCommand {
    static var action: QueuedPipelineAction { get }
    var environment: EnvironmentOptions { get }
    var name: String { get }
    var companyId: String? { get }
}

extension PipelineActionCommand {
    func run() async throws {
        var company: UUID?
        if let companyId {
            guard let id = UUID(uuidString: companyId) else { throw PipelinesCommand.fail("marketplace: --company-id must be a uuid") }
            company = id
        }
        let (values, database, logs) = try environment.loadDatabase()
        let logger = LoggingBootstrap.bootstrap(logs)
        let registry = PipelineRegistry(path: values["PIPELINES_FILE"] ?? "pipelines.yaml")
        if case .failure(let errors) = registry.reload() {
            throw PipelinesCommand.fail(errors.diagnostics.map(\.description).joined(separator: "\n"))
        }
        let client = Database(configuration: database, logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do {
                let ids = switch Self.action {
                case .action(let action):
                    try await PipelineActions(database: client, registry: registry).request(action, pipeline: name, companyId: company, logger: logger)
                case .fullResync:
                    try await FullResyncs(database: client, registry: registry).request(pipeline: name, companyId: company, logger: logger)
                }
                print("\(Self.action.name) of \(name): \(ids.count) job(s) queued\(ids.isEmpty ? " (no active company of its integration)" : ": \(ids.map(String.init).joined(separator: ", "))")")
            } catch let error as PipelineActionError {
                throw PipelinesCommand.fail("marketplace: \(error)")
            }
        }
    }
}

extension PipelinesCommand {
    struct Backfill: PipelineActionCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue a backfill: the pipeline's model re-read from the start of Nango's stream for every active company of its integration.")
        static let action = QueuedPipelineAction.action(.backfill)

        @OptionGroup var environment: EnvironmentOptions
        @Argument(help: "The pipeline's name.") var name: String
        @Option(help: "Only this company (its uuid).") var companyId: String?
    }

    struct Rederive: PipelineActionCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue a re-derivation: the pipeline's rows rebuilt from the raw records already stored, without calling Nango.")
        static let action = QueuedPipelineAction.action(.rederive)

        @OptionGroup var environment: EnvironmentOptions
        @Argument(help: "The pipeline's name.") var name: String
        @Option(help: "Only this company (its uuid).") var companyId: String?
    }

    struct FullResync: PipelineActionCommand {
        static let configuration = CommandConfiguration(
            commandName: "full-resync",
            abstract: "Queue a full resync: the model's whole stream re-read, and rows Nango no longer holds (hard deletes) soft-deleted after a complete read.")
        static let action = QueuedPipelineAction.fullResync

        @OptionGroup var environment: EnvironmentOptions
        @Argument(help: "The pipeline's name.") var name: String
        @Option(help: "Only this company (its uuid).") var companyId: String?
    }
}
