import Foundation
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Outbound
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
        case endpointEnabled = "endpoint_enabled", endpointDisabled = "endpoint_disabled", testQueued = "test_queued"
        case testKept = "test_kept", recovered, resent

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
            case .endpointEnabled: return "Endpoint enabled: new messages are sent again (recover the failed ones to send them too)."
            case .endpointDisabled: return "Endpoint disabled: its pending messages are kept as failed, for recover."
            case .testQueued: return "A webhook.test message is queued."
            case .testKept: return "The endpoint is disabled: the webhook.test message is kept as failed."
            case .recovered: return "Recovered: \(n) failed message(s) queued again."
            case .resent: return "The message is queued again with fresh attempts."
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
        registerOutboundActions(on: pages)
    }

    func registerOutboundActions(on pages: RouterGroup<AppRequestContext>) {
        pages.post("/outbound/:id/status") { request, context in
            let id = try Self.endpointId(context)
            var request = request
            let fields = try await ConsoleForm.fields(&request, limit: bodyLimit)
            guard let status = fields["status"].flatMap(WebhookEndpointStatus.init(rawValue:)) else {
                throw APIError(.badRequest, code: "invalid_request",
                               message: "'status' must be one of \(WebhookEndpointStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            _ = try await outbound.update(id, WebhookEndpointChange(status: status), logger: context.logger)
            context.logger.notice("console: webhook endpoint \(status.rawValue)", metadata: ["endpoint_id": "\(id)"])
            return Self.redirect("/console/outbound/\(id.lowercasedString)", status == .enabled ? .endpointEnabled : .endpointDisabled)
        }
        // Answered with a page, not a redirect: the new secret must travel in no URL.
        pages.post("/outbound/:id/rotate") { request, context in try await rotatedSecretPage(request, context) }
        pages.post("/outbound/:id/test") { _, context in
            let id = try Self.endpointId(context)
            let enabled = try await outbound.get(id, logger: context.logger).status == .enabled
            _ = try await outbound.sendTest(id, logger: context.logger)
            return Self.redirect("/console/outbound/\(id.lowercasedString)", enabled ? .testQueued : .testKept)
        }
        pages.post("/outbound/:id/recover") { request, context in
            let id = try Self.endpointId(context)
            var request = request
            let since = try Self.recoverSince(try await ConsoleForm.fields(&request, limit: bodyLimit)["since"])
            let recovered = try await outbound.recover(id, since: since, logger: context.logger)
            context.logger.notice("console: webhook messages recovered", metadata: ["endpoint_id": "\(id)", "count": "\(recovered)"])
            return Self.redirect("/console/outbound/\(id.lowercasedString)", .recovered, recovered)
        }
        pages.post("/outbound/:id/messages/:message/resend") { _, context in
            let id = try Self.endpointId(context)
            let messageId = context.parameters.get("message") ?? ""
            try await outbound.resend(messageId: messageId, of: id, logger: context.logger)
            context.logger.notice("console: webhook message resent", metadata: ["endpoint_id": "\(id)", "message_id": "\(messageId)"])
            return Self.redirect("/console/outbound/\(id.lowercasedString)", .resent)
        }
    }
}
