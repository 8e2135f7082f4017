import Hummingbird
import Logging
import MarketplaceCore

/// The emulator's parts wired together; `application` serves them.
struct Emulator: Sendable {
    struct Options: Sendable {
        var secretKey: String
        var webhookSecret: String
        var webhookURLs: [String]
        var seed: UInt64
        var recordsPerModel: Int
        var webhookRetryScale: Double
        var environment: String
        var publicURL: String
        var rateLimitPerMinute = 100_000
    }

    let options: Options
    let state: EmulatorState
    let webhooks: WebhookSender
    let logger: Logger

    init(options: Options, logger: Logger) {
        self.options = options
        self.state = EmulatorState(
            seed: options.seed, recordsPerModel: options.recordsPerModel, rateLimitPerMinute: options.rateLimitPerMinute)
        self.webhooks = WebhookSender(
            urls: options.webhookURLs, signingKey: options.webhookSecret, retryDelayScale: options.webhookRetryScale,
            state: state, logger: logger)
        self.logger = logger
    }

    func createDemoConnections() async {
        for integration in Integration.all {
            await state.createConnection(
                integration: integration, connectionId: "demo-\(integration.key)",
                tags: ["end_user_id": "demo-user", "end_user_email": "demo@example.com"])
        }
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in "ok" }
        ConnectUI(state: state, webhooks: webhooks, environment: options.environment).register(on: router)
        ControlAPI(state: state, webhooks: webhooks, environment: options.environment).register(on: router.group("/_emulator"))
        let api = router.group()
            .add(middleware: NangoAuthMiddleware(secretKey: options.secretKey))
            .add(middleware: FaultMiddleware(state: state))
        NangoAPI(state: state, webhooks: webhooks, publicURL: options.publicURL, environment: options.environment).register(on: api)
        return router
    }

    func application(host: String, port: Int) -> some ApplicationProtocol {
        Application(
            router: router(), configuration: .init(address: .hostname(host, port: port), serverName: "nango-emulator"),
            services: [webhooks], logger: logger)
    }
}
