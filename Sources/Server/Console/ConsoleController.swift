import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Nango
import Outbound
import Pipeline
import Storage

/// The ops console under `/console`: server-rendered pages over the same use cases as the admin API (the inbox,
/// the queue, the pipelines, sync state, credentials, outbound webhooks), a sign-in that trades a token for a session
/// cookie, and a live feed. Each page is in a `ConsoleController+…` file of its own; actions are in
/// `ConsoleController+Actions`.
struct ConsoleController: Sendable {
    let renderer: ConsoleRenderer
    let sessions: ConsoleSessions
    let checker: HealthChecker
    let database: Database
    let ops: PipelineOps
    let actions: PipelineActions
    let fullResyncs: FullResyncs
    let syncs: SyncRequests
    let reconciliation: Reconciliation
    let nango: NangoClient
    let registry: PipelineRegistry
    /// Outbound webhook endpoints, their messages and attempts (the admin API's use cases).
    let outbound: WebhookEndpoints
    /// The drift check's findings, flagged on the overview and the company page.
    let drift: DriftReports
    let secureCookies: Bool
    let signInLimit: AppConfiguration.RateLimit.Window
    let bodyLimit: Int
    let publicHosts: Set<String>
    /// One change signature read for every open live page, not one a page.
    let changes: ConsoleChanges

    func register(on router: Router<AppRequestContext>) {
        let console = router.group("/console").add(middleware: ConsoleErrorMiddleware(renderer: renderer))
        console.get("/assets/:name") { _, context in
            guard let name = context.parameters.get("name"), let asset = renderer.assets[name] else { throw APIError.notFound }
            return Response(status: .ok, headers: [.contentType: asset.contentType, .cacheControl: "public, max-age=300"],
                            body: .init(byteBuffer: asset.bytes))
        }
        console.get("/sign-in") { request, _ in
            renderer.page("sign-in", SignInPage(next: Self.safeNext(request.uri.queryParameters["next"].map(String.init)), error: nil, open: sessions.isOpen))
        }
        console.group("/sign-in")
            .add(middleware: AddressRateLimitMiddleware(
                limiter: LocalRateLimiter(limit: signInLimit.requests, window: signInLimit.window), group: "console_sign_in"))
            .post { request, context in try await signIn(request, context) }

        let pages = console.group().add(middleware: ConsoleSessionMiddleware(sessions: sessions, bodyLimit: bodyLimit, publicHosts: publicHosts))
        pages.post("/sign-out") { request, context in
            if let cookie = request.cookies[ConsoleSessions.cookieName]?.value {
                try await sessions.signOut(cookie: cookie, logger: context.logger)
            }
            var response = Response.redirect(to: "/console/sign-in")
            response.setCookie(sessionCookie(value: "", maxAge: 0))
            return response
        }
        pages.get("/live") { request, context in
            ConsoleLive(changes: changes, sessions: sessions).response(
                cookie: request.cookies[ConsoleSessions.cookieName]?.value ?? "",
                since: request.uri.queryParameters["since"].map(String.init), logger: context.logger)
        }
        pages.get { request, context in try await overview(request, context) }
        pages.get("/events") { request, context in try await events(request, context) }
        pages.get("/events/replay") { request, context in try await replayConfirmation(request, context) }
        pages.get("/events/:id") { request, context in try await event(request, context) }
        pages.get("/jobs") { request, context in try await jobs(request, context) }
        pages.get("/jobs/:id") { request, context in try await job(request, context) }
        pages.get("/companies") { request, context in try await companies(request, context) }
        pages.get("/companies/:id") { request, context in try await company(request, context) }
        pages.get("/quarantine") { request, context in try await quarantine(request, context) }
        pages.get("/pipelines") { request, context in try await pipelines(request, context, dryRun: nil) }
        pages.get("/tokens") { request, context in try await tokens(request, context) }
        pages.get("/outbound") { request, context in try await outboundPage(request, context) }
        pages.get("/outbound/:id") { request, context in try await outboundEndpointPage(request, context) }
        registerActions(on: pages)
    }

    // MARK: Sign-in

    struct SignInPage {
        let next: String
        let error: String?
        let open: Bool
    }

    func signIn(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        try ConsoleSessionMiddleware.checkOrigin(request, publicHosts: publicHosts)
        var request = request
        let form = try await ConsoleForm.fields(&request, limit: 16 * 1024)
        let next = Self.safeNext(form["next"])
        guard let token = form["token"], !token.isEmpty,
            let (cookie, session) = try await sessions.signIn(token: token, address: context.clientAddress, logger: context.logger)
        else {
            context.logger.warning("console sign-in refused", metadata: ["address": "\(context.clientAddress)"])
            let message = sessions.isOpen ? "That token opens nothing here." : "The console is closed: neither ADMIN_TOKEN nor CONSOLE_VIEWER_TOKEN is set."
            return renderer.page("sign-in", SignInPage(next: next, error: message, open: sessions.isOpen), status: .unauthorized)
        }
        context.logger.notice("console sign-in", metadata: ["role": "\(session.role.rawValue)", "address": "\(context.clientAddress)"])
        var response = Response.redirect(to: next)
        response.setCookie(sessionCookie(value: cookie, maxAge: Int(sessions.ttl / .seconds(1))))
        return response
    }

    func sessionCookie(value: String, maxAge: Int) -> Cookie {
        Cookie(name: ConsoleSessions.cookieName, value: value, maxAge: maxAge, path: "/console", secure: secureCookies, httpOnly: true, sameSite: .strict)
    }

    /// Where to go after signing in: a console path of ours, never another site.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/console"), !next.hasPrefix("//"), !next.contains("\\"), !next.hasPrefix("/console/sign-") else {
            return "/console"
        }
        return next
    }

    // MARK: Helpers

    /// The change signature before a live page reads its data (nil when it cannot be read: the page then follows
    /// the feed from the feed's own start).
    func liveSince(_ context: AppRequestContext) async -> String? {
        (try? await changes.current(logger: context.logger)) ?? ""
    }

    static func session(_ context: AppRequestContext) throws -> ConsoleSession {
        guard let session = context.consoleSession else { throw APIError(.unauthorized, code: "signed_out", message: "sign in to the console first") }
        return session
    }

    /// Query parameters, empty ones dropped (a filter form sends every field).
    static func parameters(_ request: Request) -> [String: String] {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters where !value.isEmpty && parameters[String(key)] == nil {
            parameters[String(key)] = String(value)
        }
        return parameters
    }

    static func query(_ parameters: [String: String]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:")
        return parameters.keys.sorted().map { key in
            key + "=" + (parameters[key]!.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
        }.joined(separator: "&")
    }

    static func number(_ text: String?, _ name: String) throws -> Int64 {
        guard let text, let value = Int64(text) else { throw APIError(.badRequest, code: "invalid_request", message: "\(name) must be a number") }
        return value
    }
}
