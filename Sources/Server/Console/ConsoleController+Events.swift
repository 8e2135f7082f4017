import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Nango
import Pipeline
import Storage

/// The inbox pages: stored webhooks by filter, one event with its body and job, and the replay confirmation.
extension ConsoleController {
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
                statuses: WebhookEventStatus.allCases.map { Option(value: $0.rawValue, selected: $0.rawValue == filter.status) },
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
}
