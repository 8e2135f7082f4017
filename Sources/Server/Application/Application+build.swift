import Foundation
import Hummingbird
import HummingbirdCore
import Ingest
import Pipeline
import Query
import Logging
import MarketplaceCore
import ServiceLifecycle
import Storage

/// The router with every route and middleware; kept apart from `main` so tests build the same app.
func buildRouter(_ dependencies: Dependencies) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.addMiddleware {
        RequestEdgeMiddleware(metrics: dependencies.metricsFactory)   // outermost: request id, access log, meters, headers
        CORSAllowListMiddleware(origins: Set(dependencies.configuration.http.corsAllowedOrigins))
        ErrorMiddleware()            // below here, any error becomes the JSON shape
        QueryTextMiddleware()        // no U+0000 in any query parameter reaches a route
        BodyLimitMiddleware(
            limit: dependencies.configuration.http.requestBodyLimit,
            handlerLimited: [WebhookController.path])
    }
    let checker = HealthChecker(
        database: dependencies.database, redis: dependencies.redis, migrator: dependencies.migrator,
        startedAt: dependencies.startedAt, pipelines: dependencies.pipelines, logger: dependencies.logger,
        postgresTimeout: dependencies.configuration.database.fastTimeout * 3 / 4
    )
    let limits = dependencies.configuration.rateLimit
    let publicLimited = router.group().add(middleware: AddressRateLimitMiddleware(
        limiter: LocalRateLimiter(limit: limits.publicRoutes.requests, window: limits.publicRoutes.window), group: "public"))
    HealthController(checker: checker, adminToken: dependencies.configuration.security.adminToken)
        .register(on: router, limited: publicLimited)
    OpenAPIController().register(on: publicLimited)
    let auth = router.group("/api/auth").add(middleware: AddressRateLimitMiddleware(
        limiter: LocalRateLimiter(limit: limits.auth.requests, window: limits.auth.window), group: "auth"))
    AuthController(
        nango: dependencies.nango, importer: dependencies.importer, tokens: dependencies.tokens,
        companies: dependencies.companyTokens, reconnects: ReconnectEvidence(database: dependencies.database),
        oauth: dependencies.configuration.oauth, stateSecret: dependencies.configuration.security.jwtSecret.value
    ).register(on: auth)
    WebhookController(
        intake: dependencies.webhookIntake, bodyLimit: dependencies.configuration.http.webhookBodyLimit,
        metrics: dependencies.metricsFactory,
        failures: LocalRateLimiter(limit: limits.webhookFailures.requests, window: limits.webhookFailures.window),
        reading: ByteBudget(capacity: max(dependencies.configuration.http.webhookReadBytes, dependencies.configuration.http.webhookBodyLimit))
    ).register(on: router)
    let business = router.group("/api")
        .add(middleware: BearerAuthMiddleware(tokens: dependencies.tokens, companies: dependencies.companyTokens))
        .add(middleware: RateLimitMiddleware(limiter: dependencies.rateLimiter, group: "api"))
    CompaniesController(reader: dependencies.reader, syncs: dependencies.syncs, nango: dependencies.nango, variants: dependencies.gzipVariants)
        .register(on: business)
    ChangesController(feed: dependencies.changes).register(on: business)
    let admin = router.group("/api/admin").add(middleware: AdminTokenMiddleware(token: dependencies.configuration.security.adminToken))
    let ops = PipelineOps(database: dependencies.database)
    AdminConnectionsController(
        importer: dependencies.importer, tokens: dependencies.tokens, companies: dependencies.companyTokens
    ).register(on: admin)
    AdminPipelinesController(
        registry: dependencies.pipelines, ops: ops, actions: dependencies.pipelineActions,
        fullResyncs: FullResyncs(database: dependencies.database, registry: dependencies.pipelines))
        .register(on: admin)
    AdminWebhookEndpointsController(endpoints: dependencies.webhookEndpoints, cipher: dependencies.cipher).register(on: admin)
    AdminDriftController(check: dependencies.driftCheck, reports: DriftReports(database: dependencies.database)).register(on: admin)
    AdminOpsController(
        database: dependencies.database, checker: checker, ops: ops, actions: dependencies.pipelineActions,
        reconciliation: dependencies.reconciliation)
        .register(on: admin)
    ConsoleController(
        renderer: dependencies.consoleRenderer,
        sessions: ConsoleSessions(
            store: ConsoleSessionStore(database: dependencies.database), adminToken: dependencies.configuration.security.adminToken,
            viewerToken: dependencies.configuration.security.consoleViewerToken, ttl: dependencies.configuration.security.consoleSessionTTL,
            fingerprintKey: ConsoleSessions.fingerprintKey(secret: dependencies.configuration.security.jwtSecret.value)),
        checker: checker, database: dependencies.database, ops: ops, actions: dependencies.pipelineActions,
        fullResyncs: FullResyncs(database: dependencies.database, registry: dependencies.pipelines), syncs: dependencies.syncs,
        reconciliation: dependencies.reconciliation, nango: dependencies.nango, registry: dependencies.pipelines,
        outbound: dependencies.webhookEndpoints, drift: DriftReports(database: dependencies.database),
        secureCookies: dependencies.configuration.oauth.publicURL.hasPrefix("https://"), signInLimit: limits.consoleSignIn,
        bodyLimit: dependencies.configuration.http.requestBodyLimit,
        publicHosts: Set([URLComponents(string: dependencies.configuration.oauth.publicURL)?.host].compactMap { $0 }),
        changes: ConsoleChanges(ops: ops, outbound: dependencies.webhookEndpoints, drift: DriftReports(database: dependencies.database))
    ).register(on: router)
    MetricsController(
        registry: dependencies.metricsRegistry, factory: dependencies.metricsFactory,
        database: dependencies.database, redis: dependencies.redis, cache: dependencies.cache, outbound: dependencies.webhookEndpoints,
        changeSignals: dependencies.changeSignals
    ).register(on: router)
    return router
}

/// The whole service: HTTP server plus the services it owns. ServiceLifecycle stops them in
/// reverse order on shutdown: the server drains first, the Redis and Postgres pools close last.
func buildApplication(
    _ dependencies: Dependencies,
    host: String? = nil,
    port: Int? = nil,
    migrateOnStart: Bool = true,
    backgroundJobs: Bool = true
) -> some ApplicationProtocol {
    let http = dependencies.configuration.http
    // Idle and read timeouts while a request is read (a slow client cannot hold a connection), bounded heads, and a
    // cap on connections served at once.
    let server = HTTPServerBuilder.http1(configuration: .init(
        idleTimeout: .nanoseconds(Int64(http.idleTimeout / .nanoseconds(1))),
        httpDecoderConfiguration: .init(maxHeaderFieldSize: http.maxHeaderBytes, maxHeaderListSize: http.maxHeaderBytes, maxHeaderFieldCount: 200)))
    var application = Application(
        router: buildRouter(dependencies),
        server: server,
        configuration: .init(
            address: .hostname(host ?? http.host, port: port ?? http.port), serverName: nil,
            availableConnectionsDelegate: .maximum(http.maxConnections, logger: dependencies.logger)),
        // Reverse order on shutdown: the server drains, the inbox writes what it holds, then the pools close.
        services: [
            dependencies.database, dependencies.redis, dependencies.inbox,
            ChangeListener(database: dependencies.database, signals: dependencies.changeSignals, logger: dependencies.logger),
        ],
        logger: dependencies.logger
    )
    // Workers, scheduler, job listener and file watcher query the schema: the migration service starts them once it is
    // current (applied here, or by another process with `migrateOnStart` off). After the pools: on shutdown they stop
    // first (reverse order), finishing their page and releasing leases.
    let dependents: [any Service] = backgroundJobs ? dependencies.pipelineServices() : []
    if migrateOnStart || !dependents.isEmpty {
        application.addServices(MigrationService(
            database: dependencies.database, migrator: dependencies.migrator, logger: dependencies.logger,
            mode: migrateOnStart ? .apply : .wait, dependents: dependents))
    }
    return application
}
