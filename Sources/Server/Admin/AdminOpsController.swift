import Foundation
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Pipeline
import Storage

/// The seed's admin endpoints (tokens, refresh-all, system health) and the ops views beyond them:
/// the webhook inbox with replay, quarantine with a re-run, and sync state per company.
struct AdminOpsController<Context: RequestContext>: Sendable {
    let database: Database
    let checker: HealthChecker
    let ops: PipelineOps
    let actions: PipelineActions
    let reconciliation: Reconciliation

    func register(on group: RouterGroup<Context>) {
        group.get("/tokens") { request, context in
            let limit = try AdminPipelinesController<Context>.limit(request.uri.queryParameters["limit"].map(String.init))
            let tokens = try await ops.credentials(limit: limit, logger: context.logger)
            return try JSONResponse.make(["data": tokens.map(CredentialView.init)])
        }
        group.post("/tokens/refresh-all") { _, context in
            let ids = try await reconciliation.enqueueCredentialRefreshes(within: .seconds(0), all: true, logger: context.logger)
            return try JSONResponse.make(["job_ids": ids], status: .accepted)
        }
        group.get("/system/health") { _, context in
            async let report = checker.detailed()
            let queue = try await ops.jobCounts(logger: context.logger)
            let health = await report
            return try JSONResponse.make(SystemHealth(health: health, jobs: queue), status: health.status == .down ? .serviceUnavailable : .ok)
        }
        group.get("/webhook-events") { request, context in
            let filter = try Self.eventFilter(request)
            let events = try await Inbox.events(filter, database: database, logger: context.logger)
            return try JSONResponse.make(["data": events.map(WebhookEventView.init)])
        }
        group.post("/webhook-events/:id/replay") { _, context in
            guard let id = context.parameters.get("id").flatMap(Int64.init) else {
                throw APIError(.badRequest, code: "invalid_request", message: "event id must be a number")
            }
            let replayed = try await Inbox.replay(WebhookEventFilter(limit: 1), id: id, database: database, logger: context.logger)
            guard let first = replayed.first else { throw APIError.notFound }
            return try JSONResponse.make(ReplayedView(first), status: .accepted)
        }
        group.post("/webhook-events/replay") { request, context in
            let filter = try Self.eventFilter(request, defaultLimit: 1000)
            guard filter.since != nil || filter.connectionId != nil else {
                throw APIError(.badRequest, code: "invalid_request", message: "a range replay needs 'since' (and optionally 'until', 'type', 'connection_id')")
            }
            let replayed = try await Inbox.replay(filter, id: nil, database: database, logger: context.logger)
            return try JSONResponse.make(["data": replayed.map(ReplayedView.init)], status: .accepted)
        }
        group.get("/quarantine") { request, context in
            let query = request.uri.queryParameters
            let companyId = try Self.uuid(query["company_id"].map(String.init), "company_id")
            let status = query["status"].map(String.init) ?? QuarantineStatus.open.rawValue
            guard QuarantineStatus(rawValue: status) != nil else {
                throw APIError(.badRequest, code: "invalid_request",
                               message: "'status' must be one of \(QuarantineStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let limit = try AdminPipelinesController<Context>.limit(query["limit"].map(String.init))
            let entries = try await ops.quarantine(
                pipeline: query["pipeline"].map(String.init), companyId: companyId, status: status, limit: limit, logger: context.logger)
            return try JSONResponse.make(["data": entries.map(QuarantineEntryView.init)])
        }
        group.post("/quarantine/rerun") { request, context in
            // After a pipeline fix: each affected company's pipeline output is re-derived from the records we hold.
            let query = request.uri.queryParameters
            let companyId = try Self.uuid(query["company_id"].map(String.init), "company_id")
            let pipeline = query["pipeline"].map(String.init)
            let ids = try await actions.rerunQuarantine(pipeline: pipeline, companyId: companyId, logger: context.logger)
            return try JSONResponse.make(["job_ids": ids], status: .accepted)
        }
        group.get("/companies/:id/sync") { _, context in
            guard let id = try Self.uuid(context.parameters.get("id"), "id") else { throw APIError.notFound }
            guard let view = try await ops.syncView(companyId: id, logger: context.logger) else { throw APIError.notFound }
            return try JSONResponse.make(CompanySyncAnswer(view))
        }
    }

    struct SystemHealth: Encodable {
        let health: HealthReport
        let jobs: [String: Int]
    }

    static func uuid(_ text: String?, _ name: String) throws -> UUID? {
        guard let text else { return nil }
        guard let id = UUID(uuidString: text) else {
            throw APIError(.badRequest, code: "invalid_request", message: "'\(name)' must be a uuid")
        }
        return id
    }

    static func eventFilter(_ request: Request, defaultLimit: Int = 50) throws -> WebhookEventFilter {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters where parameters[String(key)] == nil { parameters[String(key)] = String(value) }
        return try eventFilter(parameters, defaultLimit: defaultLimit)
    }

    /// 9999-12-31T23:59:59Z, the last time ISO 8601's four-digit years write.
    static var latestFilterTime: Date { Date(timeIntervalSince1970: 253_402_300_799) }

    /// The inbox filter of the admin API and the console, from their parameters.
    static func eventFilter(_ query: [String: String], defaultLimit: Int = 50) throws -> WebhookEventFilter {
        func date(_ name: String) throws -> Date? {
            guard let text = query[name] else { return nil }
            // Past Postgres' last time (the year 294276) a filter would be refused there, and past Int64 microseconds
            // the driver traps while encoding it: no filter needs a time after the year 9999.
            guard let date = Timestamps.parse(text), date <= Self.latestFilterTime else {
                throw APIError(.badRequest, code: "invalid_request", message: "'\(name)' must be an ISO 8601 time")
            }
            return date
        }
        let status = query["status"]
        if let status, WebhookEventStatus(rawValue: status) == nil {
            throw APIError(.badRequest, code: "invalid_request",
                           message: "'status' must be one of \(WebhookEventStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var limit = defaultLimit
        if let text = query["limit"] {
            guard let value = Int(text), (1...5000).contains(value) else {
                throw APIError(.badRequest, code: "invalid_request", message: "'limit' must be a number from 1 to 5000")
            }
            limit = value
        }
        return WebhookEventFilter(
            type: query["type"], status: status, connectionId: query["connection_id"], integrationId: query["integration_id"],
            since: try date("since"), until: try date("until"), limit: limit)
    }
}
