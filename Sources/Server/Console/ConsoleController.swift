import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Nango
import Pipeline
import Storage

/// The ops console under `/console`: server-rendered pages over the same use cases as the admin API (the inbox,
/// the queue, the pipelines, sync state, credentials), a sign-in that trades a token for a session cookie, and
/// a live feed. Actions are in `ConsoleController+Actions`.
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

    // MARK: Overview

    struct OverviewPage {
        struct Dependency {
            let name: String
            let status: String
            let up: Bool
            let detail: String
        }

        let frame: ConsoleFrame
        let dependencies: [Dependency]
        let webhooksChart: String
        let webhooksLastHour: Int
        let fetchedChart: String
        let fetchedLastHour: Int
        let jobs: [Count]
        let jobsChart: String
        let quarantine: [Count]
        let quarantineTotal: Int
        let companies: [CompanyRow]
    }

    func overview(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let since = await liveSince(context)
        async let health = checker.detailed()
        let now = Date()
        let overview = try await ops.overview(now: now, logger: context.logger)
        let report = await health
        var dependencies = report.checks.keys.sorted().map { name in
            let check = report.checks[name]!
            return OverviewPage.Dependency(
                name: name, status: check.status, up: check.status == "up",
                detail: check.error ?? check.latencyMs.map { String(format: "%.1f ms", $0) } ?? "")
        }
        if let pipelines = report.pipelines {
            dependencies.append(.init(
                name: "pipelines.yaml", status: pipelines.status, up: pipelines.status == "ok",
                detail: pipelines.status == "ok" ? "\(pipelines.count) pipeline(s)" : "\(pipelines.errors?.count ?? 0) error(s): the last good version runs"))
        }
        let minuteLabels = (0..<60).map { offset in
            Date(timeIntervalSince1970: ((now.timeIntervalSince1970 / 60).rounded(.down) - Double(59 - offset)) * 60)
                .formatted(.iso8601.time(includingFractionalSeconds: false)).prefix(5) + " UTC"
        }
        let webhooks = SVGChart.perMinute(overview.webhooksPerMinute, now: now)
        let fetched = SVGChart.perMinute(overview.fetchedPerMinute, now: now)
        let states = ["queued", "running", "failed", "dead", "succeeded", "cancelled"]
        let jobs = states.map { Count(label: $0, count: overview.jobCounts[$0] ?? 0, cap: PipelineOps.jobCountCap) }
        let page = OverviewPage(
            frame: ConsoleFrame(title: "Overview", section: "/console", session: session, notice: Self.notice(request), liveSince: since),
            dependencies: dependencies,
            webhooksChart: SVGChart.bars(webhooks, labels: minuteLabels.map(String.init), caption: "Webhooks received per minute, last hour"),
            webhooksLastHour: webhooks.reduce(0, +),
            fetchedChart: SVGChart.bars(fetched, labels: minuteLabels.map(String.init), caption: "Records fetched by syncs per minute, last hour"),
            fetchedLastHour: fetched.reduce(0, +),
            jobs: jobs,
            jobsChart: SVGChart.bars(jobs.map(\.count), labels: jobs.map(\.label), caption: "Jobs by state", width: 360, height: 100),
            quarantine: overview.quarantineOpen.keys.sorted().map { Count(label: $0, count: overview.quarantineOpen[$0]!) },
            quarantineTotal: overview.quarantineOpen.values.reduce(0, +),
            companies: overview.companies.map {
                CompanyRow($0.company, lastSyncedAt: $0.lastSyncedAt, oldestUnsynced: $0.oldestUnsynced, fetchedLastHour: $0.fetchedLastHour)
            })
        return renderer.page("overview", page)
    }

    // MARK: Webhook events

    struct EventsPage {
        struct Filter {
            let type: String
            let status: String
            let integrationId: String
            let connectionId: String
            let since: String
            let until: String
            let statuses: [Option]
            let query: String
        }

        let frame: ConsoleFrame
        let filter: Filter
        let events: [EventRow]
        let olderHref: String?
        let newestHref: String?
    }

    struct Option {
        let value: String
        let selected: Bool
    }

    func events(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let since = await liveSince(context)
        let parameters = Self.parameters(request)
        var filter = try AdminOpsController<AppRequestContext>.eventFilter(parameters)
        if let before = parameters["before"] {
            let parts = before.split(separator: "_")
            guard parts.count == 2, let micros = Int64(parts[0]), let id = Int64(parts[1]) else {
                throw APIError(.badRequest, code: "invalid_request", message: "'before' is not a cursor of this list")
            }
            filter.before = WebhookEventPosition(receivedAtMicroseconds: micros, id: id)
        }
        let events = try await Inbox.events(filter, database: database, logger: context.logger)
        let query = Self.query(parameters.filter { ["type", "status", "integration_id", "connection_id", "since", "until", "limit"].contains($0.key) })
        let older = events.count == filter.limit ? events.last.map { event -> String in
            let position = WebhookEventPosition(event)
            return "/console/events?" + query + (query.isEmpty ? "" : "&") + "before=\(position.receivedAtMicroseconds)_\(position.id)"
        } : nil
        let page = EventsPage(
            frame: ConsoleFrame(title: "Webhook events", section: "/console/events", session: session, notice: Self.notice(request),
                                liveSince: filter.before == nil ? since : nil),
            filter: .init(
                type: filter.type ?? "", status: filter.status ?? "", integrationId: filter.integrationId ?? "",
                connectionId: filter.connectionId ?? "", since: parameters["since"] ?? "", until: parameters["until"] ?? "",
                statuses: ["received", "processing", "processed", "ignored", "failed"].map { Option(value: $0, selected: $0 == filter.status) },
                query: query),
            events: events.map(EventRow.init), olderHref: older,
            newestHref: filter.before == nil ? nil : "/console/events" + (query.isEmpty ? "" : "?" + query))
        return renderer.page("events", page)
    }

    struct EventPage {
        let frame: ConsoleFrame
        let event: EventRow
        let body: String
        let jobId: Int64?
        let job: JobRow?
        let runs: [RunRow]
        let processedAt: Stamp?
    }

    func event(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let id = try Self.number(context.parameters.get("id"), "event id")
        guard let detail = try await Inbox.event(id: id, database: database, logger: context.logger) else { throw APIError.notFound }
        // What it caused: its job (several events may share one) and the runs that job made.
        var job: JobDetail?
        if let jobId = detail.jobId { job = try await ops.job(id: jobId, logger: context.logger) }
        return renderer.page("event", EventPage(
            frame: ConsoleFrame(title: "Event \(id)", section: "/console/events", session: session, notice: Self.notice(request)),
            event: EventRow(detail.event), body: ConsoleHTML.prettyJSON(detail.rawBody), jobId: detail.jobId,
            job: job.map { JobRow($0.record) }, runs: job?.runs.map(RunRow.init) ?? [], processedAt: Stamp(detail.processedAt)))
    }

    struct ReplayPage {
        let frame: ConsoleFrame
        let fields: [Field]
        let count: Int
        let more: Bool
        let events: [EventRow]
        let description: String

        struct Field {
            let name: String
            let value: String
        }
    }

    /// A range replay is confirmed on a page that says how many events it covers and lists the first of them: the
    /// same selection (filter, oldest first, limit) the replay then takes.
    func replayConfirmation(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let parameters = Self.parameters(request)
        var filter = try AdminOpsController<AppRequestContext>.eventFilter(parameters, defaultLimit: 1000)
        try Self.requireRange(filter)
        let ceiling = filter.limit
        filter.limit = ceiling + 1
        let matching = try await Inbox.replayPreview(filter, database: database, logger: context.logger)
        let described = [("type", filter.type), ("status", filter.status), ("integration", filter.integrationId),
                         ("connection", filter.connectionId), ("since", parameters["since"]), ("until", parameters["until"])]
            .compactMap { name, value in value.map { "\(name) \($0)" } }.joined(separator: ", ")
        return renderer.page("replay", ReplayPage(
            frame: ConsoleFrame(title: "Replay events", section: "/console/events", session: session, notice: nil),
            fields: parameters.filter { ["type", "status", "integration_id", "connection_id", "since", "until", "limit"].contains($0.key) }
                .sorted { $0.key < $1.key }.map { ReplayPage.Field(name: $0.key, value: $0.value) },
            count: min(matching.count, ceiling), more: matching.count > ceiling, events: matching.prefix(min(20, ceiling)).map(EventRow.init),
            description: described))
    }

    static func requireRange(_ filter: WebhookEventFilter) throws {
        guard filter.since != nil || filter.connectionId != nil else {
            throw APIError(.badRequest, code: "invalid_request", message: "a range replay needs a 'since' time or a connection")
        }
    }

    // MARK: Jobs

    struct JobsPage {
        let frame: ConsoleFrame
        let states: [StateTab]
        let jobs: [JobRow]

        struct StateTab {
            let href: String
            let label: String
            let count: Int
            let shown: String
            let active: Bool
        }
    }

    func jobs(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let since = await liveSince(context)
        let status = Self.parameters(request)["status"]
        let states = ["queued", "running", "failed", "dead", "succeeded", "cancelled"]
        if let status, !states.contains(status) {
            throw APIError(.badRequest, code: "invalid_request", message: "'status' must be one of \(states.joined(separator: ", "))")
        }
        let counts = try await ops.jobCounts(logger: context.logger)
        let jobs = try await ops.jobs(status: status, limit: 100, logger: context.logger)
        // Each state is counted up to a cap (PipelineOps.jobCounts): a total with a capped part is a lower bound too.
        let capped = counts.values.contains { $0 >= PipelineOps.jobCountCap }
        let total = counts.values.reduce(0, +)
        let tabs = [JobsPage.StateTab(href: "/console/jobs", label: "all", count: total, shown: capped ? "\(total)+" : "\(total)", active: status == nil)]
            + states.map {
                let count = counts[$0] ?? 0
                return JobsPage.StateTab(href: "/console/jobs?status=\($0)", label: $0, count: count,
                                         shown: Count.shown(count, cap: PipelineOps.jobCountCap), active: $0 == status)
            }
        return renderer.page("jobs", JobsPage(
            frame: ConsoleFrame(title: "Jobs", section: "/console/jobs", session: session, notice: Self.notice(request), liveSince: since),
            states: tabs, jobs: jobs.map(JobRow.init)))
    }

    struct JobPage {
        struct Attempt {
            let attempt: Int
            let at: Stamp?
            let error: String
        }

        let frame: ConsoleFrame
        let job: JobRow
        let payload: String
        let history: [Attempt]
        let createdAt: Stamp?
        let startedAt: Stamp?
        let finishedAt: Stamp?
        let eventIds: [Int64]
        let runs: [RunRow]
    }

    func job(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let since = await liveSince(context)
        let id = try Self.number(context.parameters.get("id"), "job id")
        guard let detail = try await ops.job(id: id, logger: context.logger) else { throw APIError.notFound }
        return renderer.page("job", JobPage(
            frame: ConsoleFrame(title: "Job \(id)", section: "/console/jobs", session: session, notice: Self.notice(request), liveSince: since),
            job: JobRow(detail.record), payload: ConsoleHTML.prettyJSON(detail.payload),
            history: detail.errorHistory.reversed().map { .init(attempt: $0.attempt, at: Stamp($0.at), error: $0.error) },
            createdAt: Stamp(detail.createdAt), startedAt: Stamp(detail.startedAt), finishedAt: Stamp(detail.finishedAt),
            eventIds: detail.eventIds, runs: detail.runs.map(RunRow.init)))
    }

    // MARK: Companies

    struct CompaniesPage {
        let frame: ConsoleFrame
        let companies: [CompanyRow]
        let nextHref: String?
    }

    func companies(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let parameters = Self.parameters(request)
        var after: ConnectionIdentity?
        if let integration = parameters["after_integration"], let connection = parameters["after_connection"] {
            after = ConnectionIdentity(integrationId: integration, connectionId: connection)
        }
        let limit = 100
        let listed = try await ops.companies(after: after, limit: limit, logger: context.logger)
        let next = listed.count == limit ? listed.last.map {
            "/console/companies?" + Self.query(["after_integration": $0.company.integrationId, "after_connection": $0.company.connectionId])
        } : nil
        return renderer.page("companies", CompaniesPage(
            frame: ConsoleFrame(title: "Companies", section: "/console/companies", session: session, notice: Self.notice(request)),
            companies: listed.map { CompanyRow($0.company, lastSyncedAt: $0.lastSyncedAt) }, nextHref: next))
    }

    struct CompanyPage {
        struct Model {
            let model: String
            let cursor: String?
            let fetched: Int
            let upserted: Int
            let deleted: Int
            let quarantined: Int
            let lastRunAt: Stamp?
            let lastSuccessAt: Stamp?
            let lastError: String?
            let nangoStatus: String?
        }

        let frame: ConsoleFrame
        let company: CompanyRow
        let models: [Model]
        let runs: [RunRow]
        let pipelines: [String]
    }

    func company(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let since = await liveSince(context)
        guard let id = UUID(uuidString: context.parameters.get("id") ?? "") else { throw APIError.notFound }
        guard let view = try await ops.syncView(companyId: id, logger: context.logger) else { throw APIError.notFound }
        let pipelines = registry.current?.pipelines.filter {
            ($0.source.integration == view.company.integrationId) || ($0.source.integration == nil && $0.source.provider == view.company.provider)
        }.map(\.name) ?? []
        return renderer.page("company", CompanyPage(
            frame: ConsoleFrame(title: view.company.name ?? view.company.connectionId, section: "/console/companies", session: session,
                                notice: Self.notice(request), liveSince: since),
            company: CompanyRow(view.company, lastSyncedAt: nil),
            models: view.models.map {
                .init(model: $0.model, cursor: $0.cursor, fetched: $0.recordsFetched, upserted: $0.recordsUpserted, deleted: $0.recordsDeleted,
                      quarantined: $0.recordsQuarantined, lastRunAt: Stamp($0.lastRunAt), lastSuccessAt: Stamp($0.lastSuccessAt),
                      lastError: $0.lastError, nangoStatus: $0.nangoSyncStatus)
            },
            runs: view.recentRuns.map(RunRow.init),
            pipelines: pipelines))
    }

    // MARK: Quarantine

    struct QuarantinePage {
        struct Entry {
            let id: Int64
            let pipeline: String
            let connectionId: String
            let companyId: String?
            let model: String
            let externalId: String?
            let reasons: [Reason]
            let raw: String
            let lastSeenAt: Stamp?
            let status: String
        }

        struct Reason {
            let field: String?
            let message: String
        }

        struct ReasonCount {
            let pipeline: String
            let field: String?
            let count: Int
            /// Nil for reasons about the whole record: a field filter cannot pick them out.
            let href: String?
        }

        let frame: ConsoleFrame
        let byReason: [ReasonCount]
        let pipelines: [Option]
        let statuses: [Option]
        let fields: [Option]
        /// The pipeline shown, nil for all.
        let pipeline: String?
        let entries: [Entry]
        let count: Int
        let open: Bool
    }

    func quarantine(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let since = await liveSince(context)
        let parameters = Self.parameters(request)
        let status = parameters["status"] ?? "open"
        guard ["open", "resolved", "reprocessed"].contains(status) else {
            throw APIError(.badRequest, code: "invalid_request", message: "'status' must be open, resolved or reprocessed")
        }
        let pipeline = parameters["pipeline"], field = parameters["field"]
        let entries = try await ops.quarantine(pipeline: pipeline, companyId: nil, status: status, field: field, limit: 100, logger: context.logger)
        let byReason = try await ops.quarantineByReason(logger: context.logger)
        let definitions = registry.current?.pipelines ?? []
        let names = Set(definitions.map(\.name)).union(entries.map(\.pipeline)).sorted()
        return renderer.page("quarantine", QuarantinePage(
            frame: ConsoleFrame(title: "Quarantine", section: "/console/quarantine", session: session, notice: Self.notice(request), liveSince: since),
            byReason: byReason.map { entry in
                .init(pipeline: entry.pipeline, field: entry.field, count: entry.count,
                      href: entry.field.map { "/console/quarantine?" + Self.query(["pipeline": entry.pipeline, "field": $0]) })
            },
            pipelines: names.map { Option(value: $0, selected: $0 == pipeline) },
            statuses: ["open", "resolved", "reprocessed"].map { Option(value: $0, selected: $0 == status) },
            fields: Set(byReason.compactMap(\.field)).union(field.map { [$0] } ?? []).sorted().map { Option(value: $0, selected: $0 == field) },
            pipeline: pipeline,
            entries: entries.map { entry in
                let reasons = Self.reasons(entry.reasons)
                let definition = definitions.first { $0.name == entry.pipeline }
                return QuarantinePage.Entry(
                    id: entry.id, pipeline: entry.pipeline, connectionId: entry.connectionId,
                    companyId: entry.companyId?.lowercasedString, model: entry.model, externalId: entry.externalId, reasons: reasons,
                    raw: ConsoleHTML.prettyJSON(entry.raw, marked: Self.sourceKeys(of: reasons.compactMap(\.field), in: definition)),
                    lastSeenAt: Stamp(entry.lastSeenAt), status: entry.status)
            },
            count: entries.count, open: status == "open"))
    }

    static func reasons(_ value: JSONValue) -> [QuarantinePage.Reason] {
        guard case .array(let items) = value else { return [.init(field: nil, message: value.jsonText)] }
        return items.map { item in
            .init(field: item["field"]?.string.flatMap { $0.isEmpty ? nil : $0 }, message: item["message"]?.string ?? item.jsonText)
        }
    }

    /// The record keys the failing fields are read from (the last key of each source path), and the names themselves.
    static func sourceKeys(of fields: [String], in pipeline: PipelineDefinition?) -> Set<String> {
        var keys = Set(fields)
        for (target, source) in pipeline?.mapping.fields ?? [] where fields.contains(target.name) {
            let paths: [SourcePath]
            switch source {
            case .path(let path): paths = [path]
            case .firstNonEmpty(let candidates), .join(let candidates, _): paths = candidates
            case .constant: paths = []
            }
            for path in paths {
                if case .key(let key)? = path.segments.last(where: { if case .key = $0 { true } else { false } }) { keys.insert(key) }
            }
        }
        return keys
    }

    // MARK: Tokens

    struct TokensPage {
        struct Credential {
            let companyId: String
            let integrationId: String
            let connectionId: String
            let provider: String
            let status: String
            let authType: String
            let fingerprint: String?
            let expiresAt: Stamp?
            let lastRefreshedAt: Stamp?
            let refreshFailures: Int
            let lastRefreshError: String?
        }

        let frame: ConsoleFrame
        let credentials: [Credential]
    }

    func tokens(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let credentials = try await ops.credentials(limit: 500, logger: context.logger)
        return renderer.page("tokens", TokensPage(
            frame: ConsoleFrame(title: "Tokens", section: "/console/tokens", session: session, notice: Self.notice(request)),
            credentials: credentials.map {
                .init(companyId: $0.companyId.lowercasedString, integrationId: $0.integrationId, connectionId: $0.connectionId,
                      provider: $0.provider, status: $0.status, authType: $0.authType, fingerprint: $0.fingerprint,
                      expiresAt: Stamp($0.expiresAt), lastRefreshedAt: Stamp($0.lastRefreshedAt), refreshFailures: $0.refreshFailures,
                      lastRefreshError: $0.lastRefreshError)
            }))
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
