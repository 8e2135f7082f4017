import Foundation
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Pipeline
import Storage

/// The console's actions: each one a form posted with the session's CSRF token (checked by
/// `ConsoleSessionMiddleware`), answered with a redirect to the page it came from and a notice.
extension ConsoleController {
    /// What an action did, named in the redirect (`?notice=…&n=…`) and worded here: no text travels in a URL.
    enum Notice: String {
        case replayed, replayNoJob = "replay_no_job", replayInvalid = "replay_invalid", replayedRange = "replayed_range"
        case retried, syncQueued = "sync_queued", actionQueued = "action_queued", rerunQueued = "rerun_queued"
        case refreshQueued = "refresh_queued", reloaded, reloadFailed = "reload_failed"

        func text(_ number: String?) -> String {
            let n = number.flatMap { Int($0) }.map(String.init) ?? "0"
            switch self {
            case .replayed: return "Replayed: job \(n) handles it."
            case .replayNoJob: return "Replayed: the event calls for no job."
            case .replayInvalid: return "Not replayed: the stored body no longer reads as a Nango webhook."
            case .replayedRange: return "Replayed \(n) event(s)."
            case .retried: return "Job \(n) is queued again with fresh attempts."
            case .syncQueued: return "Sync queued: \(n) job(s)."
            case .actionQueued: return "Queued \(n) job(s)."
            case .rerunQueued: return "Re-run queued: \(n) job(s) re-derive the quarantined records."
            case .refreshQueued: return "Refresh queued for \(n) connection(s)."
            case .reloaded: return "pipelines.yaml reloaded."
            case .reloadFailed: return "pipelines.yaml has errors: the last good version keeps running."
            }
        }
    }

    static func notice(_ request: Request) -> String? {
        let query = request.uri.queryParameters
        return query["notice"].flatMap { Notice(rawValue: String($0)) }?.text(query["n"].map(String.init))
    }

    static func redirect(_ path: String, _ notice: Notice, _ number: Int? = nil) -> Response {
        let separator = path.contains("?") ? "&" : "?"
        return .redirect(to: path + separator + "notice=\(notice.rawValue)" + (number.map { "&n=\($0)" } ?? ""))
    }

    func registerActions(on pages: RouterGroup<AppRequestContext>) {
        pages.post("/events/:id/replay") { _, context in
            let id = try Self.number(context.parameters.get("id"), "event id")
            let replayed = try await Inbox.replay(WebhookEventFilter(limit: 1), id: id, database: database, logger: context.logger)
            guard let first = replayed.first else { throw APIError.notFound }
            context.logger.notice("console: event replayed", metadata: ["event_id": "\(id)", "outcome": "\(first.outcome)"])
            switch first.outcome {
            case "enqueued": return Self.redirect("/console/events/\(id)", .replayed, first.jobId.map(Int.init))
            case "no_job": return Self.redirect("/console/events/\(id)", .replayNoJob)
            default: return Self.redirect("/console/events/\(id)", .replayInvalid)
            }
        }
        pages.post("/events/replay") { request, context in
            var request = request
            let fields = try await ConsoleForm.fields(&request, limit: bodyLimit).filter { !$0.value.isEmpty && $0.key != "csrf" }
            let filter = try AdminOpsController<AppRequestContext>.eventFilter(fields, defaultLimit: 1000)
            try Self.requireRange(filter)
            let replayed = try await Inbox.replay(filter, id: nil, database: database, logger: context.logger)
            context.logger.notice("console: events replayed", metadata: ["count": "\(replayed.count)"])
            return Self.redirect("/console/events", .replayedRange, replayed.count)
        }
        pages.post("/jobs/:id/retry") { _, context in
            let id = try Self.number(context.parameters.get("id"), "job id")
            _ = try await ops.retry(jobId: id, logger: context.logger)
            context.logger.notice("console: job retried", metadata: ["job_id": "\(id)"])
            return Self.redirect("/console/jobs/\(id)", .retried, Int(id))
        }
        pages.post("/companies/:id/sync") { request, context in
            guard let id = UUID(uuidString: context.parameters.get("id") ?? "") else { throw APIError.notFound }
            var request = request
            let fields = try await ConsoleForm.fields(&request, limit: bodyLimit)
            let queued = try await syncs.syncNow(companyId: id, askNango: fields["nango"] == "on", nango: nango, logger: context.logger)
            return Self.redirect("/console/companies/\(id.lowercasedString)", .syncQueued, queued.jobIds.count)
        }
        pages.post("/companies/:id/pipeline-action") { request, context in
            guard let id = UUID(uuidString: context.parameters.get("id") ?? "") else { throw APIError.notFound }
            var request = request
            let fields = try await ConsoleForm.fields(&request, limit: bodyLimit)
            guard let pipeline = fields["pipeline"], !pipeline.isEmpty else {
                throw APIError(.badRequest, code: "invalid_request", message: "choose a pipeline")
            }
            let ids: [Int64]
            switch fields["action"] {
            case "backfill": ids = try await actions.request(.backfill, pipeline: pipeline, companyId: id, logger: context.logger)
            case "rederive": ids = try await actions.request(.rederive, pipeline: pipeline, companyId: id, logger: context.logger)
            case "full-resync": ids = try await fullResyncs.request(pipeline: pipeline, companyId: id, logger: context.logger)
            default: throw APIError(.badRequest, code: "invalid_request", message: "the action must be backfill, rederive or full-resync")
            }
            return Self.redirect("/console/companies/\(id.lowercasedString)", .actionQueued, ids.count)
        }
        pages.post("/quarantine/rerun") { request, context in
            var request = request
            let fields = try await ConsoleForm.fields(&request, limit: bodyLimit)
            let pipeline = fields["pipeline"].flatMap { $0.isEmpty ? nil : $0 }
            let ids = try await actions.rerunQuarantine(pipeline: pipeline, companyId: nil, logger: context.logger)
            context.logger.notice("console: quarantine re-run", metadata: ["pipeline": "\(pipeline ?? "(all)")", "jobs": "\(ids.count)"])
            return Self.redirect("/console/quarantine" + (pipeline.map { "?" + Self.query(["pipeline": $0]) } ?? ""), .rerunQueued, ids.count)
        }
        pages.post("/pipelines/reload") { _, context in
            switch await actions.reload(logger: context.logger) {
            case .success: return Self.redirect("/console/pipelines", .reloaded)
            case .failure: return Self.redirect("/console/pipelines", .reloadFailed)
            }
        }
        pages.post("/pipelines/dry-run") { request, context in
            var request = request
            let fields = try await ConsoleForm.fields(&request, limit: bodyLimit)
            return try await pipelines(request, context, dryRun: fields)
        }
        pages.post("/tokens/refresh-all") { _, context in
            let ids = try await reconciliation.enqueueCredentialRefreshes(within: .seconds(0), all: true, logger: context.logger)
            return Self.redirect("/console/tokens", .refreshQueued, ids.count)
        }
    }
}
