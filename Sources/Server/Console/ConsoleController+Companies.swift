import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Nango
import Pipeline
import Storage

/// The companies pages: the list, and one company with its sync state and drift check per model and the end of its
/// change feed.
extension ConsoleController {
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
        /// The drift check per model (those that drifted or were checked), and the models whose drift is open.
        let drifts: [ModelDriftRow]
        let openDrifts: String
        let hasOpenDrift: Bool
        let runs: [RunRow]
        let pipelines: [String]
        /// The newest change (nil when the log holds none of the company's), how many it has, and its last changes.
        let changeHead: ChangeRow?
        let changeCount: String
        let changes: [ChangeRow]
    }

    /// How many of a company's newest changes its page lists.
    static let latestChanges = 20

    func company(_ request: Request, _ context: AppRequestContext) async throws -> Response {
        let session = try Self.session(context)
        let since = await liveSince(context)
        guard let id = UUID(uuidString: context.parameters.get("id") ?? "") else { throw APIError.notFound }
        guard let view = try await ops.syncView(companyId: id, logger: context.logger) else { throw APIError.notFound }
        let log = try await ops.changeLog(companyId: id, limit: Self.latestChanges, logger: context.logger)
        let drifts = try await drift.companyStatus(companyId: id, identity: view.company.identity, logger: context.logger).map(ModelDriftRow.init)
        let open = drifts.filter(\.open).map(\.model)
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
            drifts: drifts, openDrifts: open.joined(separator: ", "), hasOpenDrift: !open.isEmpty,
            runs: view.recentRuns.map(RunRow.init),
            pipelines: pipelines,
            changeHead: log.head.map(ChangeRow.init),
            changeCount: Count.shown(log.count, cap: PipelineOps.changeCountCap),
            changes: log.latest.map(ChangeRow.init)))
    }
}
