import Tokens
import CoreMetrics
import ServiceLifecycle
import Foundation
import Ingest
import Nango
import Logging
import Pipeline
import Query
import MarketplaceCore
import Prometheus
import Redis
import Storage
import Connections
import Outbound

/// What the routes and services share, built once per process (or per test).
struct Dependencies: Sendable {
    let configuration: AppConfiguration
    let database: Database
    let redis: RedisClient
    let migrator: Migrator
    let metricsRegistry: PrometheusCollectorRegistry
    let metricsFactory: any MetricsFactory
    let webhookIntake: WebhookIntake
    /// The inbox's group commit; a service between the Postgres pool and the HTTP server.
    let inbox: InboxWriter
    let nango: NangoClient
    let importer: ConnectionImporter
    let tokens: TokenIssuer
    let pipelines: PipelineRegistry
    /// Sync requests and the scheduler's queueing rounds: the pipeline's use cases the routes call.
    let syncs: SyncRequests
    let reconciliation: Reconciliation
    /// Nango's record counts against ours (docs/drift.md).
    let driftCheck: DriftCheck
    let pipelineActions: PipelineActions
    let reader: ResourceReader
    /// The change feeds, and the signals that wake their held requests.
    let changes: ChangeFeed
    let changeSignals: ChangeSignals
    /// Outbound webhook endpoints and their messages (the admin API's use cases), and the sealing of their secrets.
    let webhookEndpoints: WebhookEndpoints
    let cipher: CredentialCipher
    let cache: QueryCache
    /// Gzip forms of API answers, kept by their ETag: made once per body, whichever request asked first.
    let gzipVariants = GzipVariants()
    let rateLimiter: RateLimiter
    /// Company tokens checked on use: the company exists, is not disconnected, has not revoked them.
    let companyTokens: CompanyTokenCheck
    let startedAt: Date
    let logger: Logger
    /// The console's templates and assets, read from the executable's resources.
    let consoleRenderer: ConsoleRenderer

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
        self.inbox = InboxWriter(
            database: database, batchTimeout: configuration.database.fastTimeout, maxQueuedBytes: configuration.http.webhookQueueBytes, logger: logger)
        self.webhookIntake = WebhookIntake(
            inbox: inbox,
            signature: WebhookSignatureCheck(
                signingKey: configuration.nango.webhookSecret.value,
                previousSigningKey: configuration.nango.previousWebhookSecret?.value, acceptsLegacy: configuration.nango.acceptsLegacySignature),
            storeTimeout: configuration.database.fastTimeout, metrics: metricsFactory, logger: logger)
        var nangoConfiguration = NangoClient.Configuration(baseURL: configuration.nango.baseURL, secretKey: configuration.nango.secretKey)
        nangoConfiguration.rateLimitJitter = configuration.nango.rateLimitJitter
        self.nango = NangoClient(configuration: nangoConfiguration, logger: logger)
        self.cipher = try CredentialCipher(base64Key: configuration.security.tokenEncryptionKey.value)
        self.importer = ConnectionImporter(nango: nango, database: database, cipher: cipher)
        self.webhookEndpoints = WebhookEndpoints(
            database: database, cipher: cipher,
            policy: EndpointURLPolicy(allowHTTP: configuration.outbound.allowHTTP, allowPrivateNetworks: configuration.outbound.allowPrivateNetworks),
            secretOverlap: configuration.outbound.secretOverlap)
        self.tokens = await TokenIssuer(secret: configuration.security.jwtSecret.value, lifetime: configuration.oauth.tokenTTL)
        // A file with errors at start leaves no pipeline running (syncs wait) but the service up: webhooks
        // are still accepted, and health shows the errors until the file is fixed and reloads.
        self.pipelines = PipelineRegistry(path: configuration.pipelinesFile)
        if case .failure(let errors) = pipelines.reload() {
            logger.error("pipelines file has errors; no pipeline runs until it is fixed", metadata: [
                "file": "\(configuration.pipelinesFile)", "errors": "\(errors.diagnostics.map(\.description))",
            ])
        }
        self.syncs = SyncRequests(database: database, registry: pipelines)
        self.reconciliation = Reconciliation(database: database, registry: pipelines)
        self.driftCheck = DriftCheck(database: database, nango: nango, registry: pipelines)
        self.pipelineActions = PipelineActions(database: database, registry: pipelines)
        self.cache = QueryCache(
            redis: redis, database: database,
            // A short wait: a slow Redis is treated as a down one, and reads fall back.
            configuration: .init(
                ttl: configuration.cacheDefaultTTL, compressionThreshold: configuration.cacheCompressionThreshold,
                redisTimeout: min(configuration.redis.commandTimeout, configuration.cacheRedisTimeout),
                localBytes: configuration.cacheFallbackBytes),
            logger: logger)
        self.rateLimiter = RateLimiter(
            redis: redis, limit: configuration.rateLimit.requests, window: configuration.rateLimit.window,
            timeout: configuration.redis.commandTimeout, logger: logger)
        self.reader = ResourceReader(database: database, cursorSecret: configuration.security.jwtSecret.value, cache: cache)
        self.changeSignals = ChangeSignals(capacity: configuration.http.changesMaxWaiters)
        self.changes = ChangeFeed(database: database, cursorSecret: configuration.security.jwtSecret.value, signals: changeSignals)
        self.companyTokens = CompanyTokenCheck(database: database)
        self.startedAt = Date()
        self.logger = logger
        self.consoleRenderer = try await ConsoleRenderer.load()
    }

    /// The pipeline's workers, scheduler and file watcher.
    func pipelineServices() -> [any Service] {
        let jobs = configuration.jobs
        let handlers: [any JobHandler] = [
            SyncRunner(nango: nango, database: database, registry: pipelines, importer: importer, logger: logger),
            ConnectionUpsertHandler(importer: importer, database: database, syncs: syncs, metrics: metricsFactory, logger: logger),
            ConnectionStatusHandler(database: database, logger: logger),
            ForwardHandler(database: database, syncs: syncs, logger: logger),
            BackfillRunner(nango: nango, database: database, registry: pipelines, logger: logger),
            FullResyncRunner(nango: nango, database: database, registry: pipelines, logger: logger),
            RederiveRunner(database: database, registry: pipelines, logger: logger),
            DriftCheckRunner(check: driftCheck, logger: logger),
        ]
        var services: [any Service] = [PipelineFileWatcher(registry: pipelines, interval: jobs.pipelinesReloadInterval, actions: pipelineActions, logger: logger)]
        if jobs.workers > 0 {
            services.append(JobWorkerService(
                database: database, handlers: handlers, configuration: .init(concurrency: jobs.workers, lease: jobs.lease),
                retryPolicy: { [pipelines] in pipelines.current?.defaults.retry ?? .standard }, logger: logger))
        }
        // Outbound webhooks: messages made from the change log (one dispatcher at a time across instances) and sent.
        services.append(OutboundDispatcher(
            database: database, cursorSecret: configuration.security.jwtSecret.value, retention: configuration.outbound.retention,
            metrics: metricsFactory, logger: logger))
        services.append(OutboundDelivery(database: database, cipher: cipher, configuration: configuration.outbound, metrics: metricsFactory, logger: logger))
        services.append(SchedulerService(
            database: database, tasks: ScheduledTasks.standard(database: database, registry: pipelines, configuration: jobs, drift: driftCheck),
            logger: logger))
        return services
    }
}
