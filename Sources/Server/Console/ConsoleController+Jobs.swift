import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Nango
import Pipeline
import Storage

/// The queue pages: jobs by state, and one job with its error history.
extension ConsoleController {
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
        let states = JobStatus.byUrgency.map(\.rawValue)
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
}
