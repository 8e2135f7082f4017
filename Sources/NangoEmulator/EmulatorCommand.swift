import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MarketplaceCore
import ServiceLifecycle
import UnixSignals

/// `nango-emulator`: Nango's API and webhooks on this machine, with faults on demand.
@main
struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nango-emulator",
        abstract: "A Nango emulator: Nango's REST API, connect flow and signed webhooks, plus a control API under /_emulator."
    )

    @Option(help: "Listen port.") var port = 3003
    @Option(help: "Listen address.") var host = "127.0.0.1"
    @Option(help: "The environment's secret (API) key: a UUID, as Nango's are.") var secretKey: String
    @Option(help: "The webhook signing key (distinct from the secret key in current Nango).") var webhookSecret: String
    @Option(help: "Where webhooks go; repeat for a secondary URL.") var webhookUrl: [String] = []
    @Option(help: "Seed for generated records: the same seed gives the same records.") var seed: UInt64 = 42
    @Option(help: "Initial records per model and connection.") var records = 200
    @Option(help: "Scale for Nango's 3 s / 6 s webhook retry waits (0.01 in tests).") var webhookRetryScale = 1.0
    @Option(help: "Environment name in auth webhooks.") var environment = "dev"
    @Option(help: "Public base URL for connect links (default http://HOST:PORT).") var publicUrl: String?
    @Option(help: "Requests per minute before 429, Nango's fixed window (Nango's free tier: 200).") var rateLimit = 100_000
    @Flag(help: "Create demo-quickbooks, demo-xero, demo-hubspot and demo-salesforce at start.") var demo = false

    func validate() throws {
        guard UUID(uuidString: secretKey) != nil else {
            throw ValidationError("--secret-key must be UUID-shaped, as Nango's API keys are (e.g. `uuidgen`)")
        }
        guard (0...1_000_000_000).contains(records) else { throw ValidationError("--records must be 0…1,000,000,000") }
        guard rateLimit > 0 else { throw ValidationError("--rate-limit must be positive") }
        guard webhookRetryScale >= 0 else { throw ValidationError("--webhook-retry-scale must be 0 or more") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: .info) }
        let logger = Logger(label: "nango-emulator")
        if webhookSecret == secretKey {
            logger.warning("webhook signing key equals the secret key: current Nango keeps them distinct (older environments shared one)")
        }
        let emulator = Emulator(
            options: .init(secretKey: secretKey, webhookSecret: webhookSecret, webhookURLs: webhookUrl, seed: seed,
                           recordsPerModel: records, webhookRetryScale: webhookRetryScale, environment: environment,
                           publicURL: publicUrl ?? "http://\(host):\(port)", rateLimitPerMinute: rateLimit),
            logger: logger)
        if demo { await emulator.createDemoConnections() }
        let application = emulator.application(host: host, port: port)
        try await ServiceGroup(configuration: .init(
            services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    }
}
