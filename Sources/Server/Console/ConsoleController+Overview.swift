import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Nango
import Pipeline
import Storage

/// The overview page: the dependencies, open drifts, the queue, the inbox and the change log at a glance.
extension ConsoleController {
    struct OverviewPage {
        struct Dependency {
            let name: String
            let status: String
            let up: Bool
            let detail: String
        }

        let frame: ConsoleFrame
        let dependencies: [Dependency]
        let drift: DriftFlag
        let webhooksChart: String
        let webhooksLastHour: Int
        let fetchedChart: String
        let fetchedLastHour: Int
        let changesChart: String
        let changesLastHour: Int
        let jobs: [Count]
        let jobsChart: String
        let quarantine: [Count]
        let quarantineTotal: Int
        let companies: [CompanyRow]
    }

    /// How many of the newest open drifts the overview lists.
    static let newestDrifts = 5

    func overview(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let since = await liveSince(context)
        async let health = checker.detailed()
        let now = Date()
        let overview = try await ops.overview(now: now, logger: context.logger)
        let report = await health
        let drifts = try await drift.openSummary(limit: Self.newestDrifts, logger: context.logger)
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
        // The change log's series over the overview's own window, so its bars line up with the other two.
        let changes = SVGChart.perMinute(try await ops.changesPerMinute(since: overview.since, logger: context.logger), now: now)
        let states = JobStatus.byUrgency.map(\.rawValue)
        let jobs = states.map { Count(label: $0, count: overview.jobCounts[$0] ?? 0, cap: PipelineOps.jobCountCap) }
        let page = OverviewPage(
            frame: ConsoleFrame(title: "Overview", section: "/console", session: session, notice: Self.notice(request), liveSince: since),
            dependencies: dependencies,
            drift: DriftFlag(open: drifts.count, newest: drifts.newest),
            webhooksChart: SVGChart.bars(webhooks, labels: minuteLabels.map(String.init), caption: "Webhooks received per minute, last hour"),
            webhooksLastHour: webhooks.reduce(0, +),
            fetchedChart: SVGChart.bars(fetched, labels: minuteLabels.map(String.init), caption: "Records fetched by syncs per minute, last hour"),
            fetchedLastHour: fetched.reduce(0, +),
            changesChart: SVGChart.bars(changes, labels: minuteLabels.map(String.init), caption: "Changes written to the change log per minute, last hour"),
            changesLastHour: changes.reduce(0, +),
            jobs: jobs,
            jobsChart: SVGChart.bars(jobs.map(\.count), labels: jobs.map(\.label), caption: "Jobs by state", width: 360, height: 100),
            quarantine: overview.quarantineOpen.keys.sorted().map { Count(label: $0, count: overview.quarantineOpen[$0]!) },
            quarantineTotal: overview.quarantineOpen.values.reduce(0, +),
            companies: overview.companies.map {
                CompanyRow($0.company, lastSyncedAt: $0.lastSyncedAt, oldestUnsynced: $0.oldestUnsynced, fetchedLastHour: $0.fetchedLastHour)
            })
        return renderer.page("overview", page)
    }
}
