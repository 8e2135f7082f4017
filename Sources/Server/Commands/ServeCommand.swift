import ArgumentParser
import Hummingbird
import Logging
import MarketplaceCore
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP API and background services (the default command)."
    )

    @OptionGroup var environment: EnvironmentOptions

    @Option(help: "Listen address (overrides SERVER_HOST).")
    var host: String?

    @Option(help: "Listen port (overrides SERVER_PORT).")
    var port: Int?

    @Flag(help: "Do not apply migrations at start (another process runs `marketplace migrate`).")
    var noMigrate = false

    func run() async throws {
        let configuration = try environment.load()
        let logger = LoggingBootstrap.bootstrap(configuration.logs)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        for warning in configuration.warnings { logger.warning("\(warning)") }
        logger.info("starting", metadata: .init(uniqueKeysWithValues: configuration.maskedSummary.map { ($0.name, .string($0.value)) }))

        let dependencies = try await Dependencies(configuration: configuration, logger: logger, metricsRegistry: registry)
        let application = buildApplication(dependencies, host: host, port: port, migrateOnStart: !noMigrate)
        var group = serviceGroupConfiguration(application, configuration: configuration, signals: [.sigterm, .sigint], logger: logger)
        // SHUTDOWN_TIMEOUT for the graceful part, then cancellation; past both, the watchdog ends the process.
        group.services.append(.init(service: ShutdownWatchdog(deadline: configuration.http.shutdownTimeout + .seconds(5), logger: logger)))
        try await ServiceGroup(configuration: group).run()
        logger.info("stopped")
    }
}

/// How `serve` runs the application: a graceful shutdown on the signals, cut short after `SHUTDOWN_TIMEOUT`
/// (a stuck connection cannot hold the process), as the shutdown test runs it too.
func serviceGroupConfiguration(
    _ application: some Service, configuration: AppConfiguration, signals: [UnixSignal], logger: Logger
) -> ServiceGroupConfiguration {
    var group = ServiceGroupConfiguration(services: [application], gracefulShutdownSignals: signals, logger: logger)
    group.maximumGracefulShutdownDuration = configuration.http.shutdownTimeout
    return group
}
