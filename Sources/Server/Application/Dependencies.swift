import CoreMetrics
import Foundation
import Ingest
import Nango
import Logging
import MarketplaceCore
import Prometheus
import Redis
import Storage

/// What the routes and services share, built once per process (or per test).
struct Dependencies: Sendable {
    let configuration: AppConfiguration
    let database: Database
    let redis: RedisClient
    let migrator: Migrator
    let metricsRegistry: PrometheusCollectorRegistry
    let metricsFactory: any MetricsFactory
    let webhookIntake: WebhookIntake
    let nango: NangoClient
    let importer: ConnectionImporter
    let tokens: TokenIssuer
    let startedAt: Date
    let logger: Logger

    init(
        configuration: AppConfiguration, logger: Logger,
        metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) async throws {
        self.configuration = configuration
        self.database = Database(configuration: configuration.database, logger: logger)
        self.redis = RedisClient(configuration: configuration.redis, logger: logger)
        self.migrator = Migrator(migrations: try Migration.bundled())
        self.metricsRegistry = metricsRegistry
        self.metricsFactory = PrometheusMetricsFactory(registry: metricsRegistry)
        self.webhookIntake = WebhookIntake(
            database: database,
            signature: WebhookSignatureCheck(
                signingKey: configuration.nango.webhookSecret.value, acceptsLegacy: configuration.nango.acceptsLegacySignature),
            storeTimeout: configuration.database.fastTimeout, metrics: metricsFactory, logger: logger)
        self.nango = NangoClient(
            configuration: .init(baseURL: configuration.nango.baseURL, secretKey: configuration.nango.secretKey), logger: logger)
        self.importer = ConnectionImporter(
            nango: nango, database: database, cipher: try CredentialCipher(base64Key: configuration.security.tokenEncryptionKey.value))
        self.tokens = await TokenIssuer(secret: configuration.security.jwtSecret.value, lifetime: configuration.oauth.tokenTTL)
        self.startedAt = Date()
        self.logger = logger
    }
}
