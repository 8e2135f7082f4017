import Foundation
import Hummingbird
import Logging
import MarketplaceCore
import Pipeline
import Storage

/// `POST /api/admin/drift/check[?company_id=]` (202 with the checks' job ids) and `GET /api/admin/drift?state=` (the
/// drifts on record, keyset pages): docs/drift.md.
struct AdminDriftController<Context: RequestContext>: Sendable {
    let check: DriftCheck
    let reports: DriftReports

    struct DriftAnswer: Encodable {
        let company_id: String
        let integration_id: String
        let connection_id: String
        let model: String
        let state: String
        let nango_count: Int
        let our_count: Int
        let detected_at: Date
        let healed_at: Date?
        let announced_at: Date?
    }

    struct JobIds: Encodable {
        let job_ids: [Int64]
    }

    func register(on group: RouterGroup<Context>) {
        group.post("/drift/check") { request, context in
            let companyId = try AdminOpsController<Context>.uuid(request.uri.queryParameters["company_id"].map(String.init), "company_id")
            let ids = try await check.enqueue(companyId: companyId, logger: context.logger)
            return try JSONResponse.make(JobIds(job_ids: ids), status: .accepted)
        }
        group.get("/drift") { request, context in
            var state: DriftState?
            if let text = request.uri.queryParameters["state"].map(String.init) {
                guard let parsed = DriftState(rawValue: text) else {
                    throw APIError(.badRequest, code: "invalid_parameter", message: "'state' must be one of \(DriftState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                state = parsed
            }
            let limit = try AdminWebhookEndpointsController<Context>.limit(request)
            let after = try Self.cursor(request.uri.queryParameters["cursor"].map(String.init))
            let page = try await reports.list(state: state, after: after, limit: limit + 1, logger: context.logger)
            let shown = page.prefix(limit)
            return try JSONResponse.make(AdminWebhookEndpointsController<Context>.DataAnswer(
                data: shown.map {
                    DriftAnswer(company_id: $0.companyId.lowercasedString, integration_id: $0.identity.integrationId, connection_id: $0.identity.connectionId,
                                model: $0.model, state: $0.state.rawValue, nango_count: $0.nangoCount, our_count: $0.ourCount, detected_at: $0.detectedAt,
                                healed_at: $0.healedAt, announced_at: $0.notifiedAt)
                },
                next_cursor: page.count > limit ? shown.last.map(Self.cursor) : nil))
        }
    }

    /// A page's cursor: the last drift's (detected_at, company, model), opaque to the client.
    static func cursor(_ drift: DriftRecord) -> String {
        Base64URL.encode(Data("\(drift.detectedAt.timeIntervalSince1970)|\(drift.companyId.lowercasedString)|\(drift.model)".utf8))
    }

    static func cursor(_ text: String?) throws -> (detectedAt: Date, companyId: UUID, model: String)? {
        guard let text else { return nil }
        guard let data = Base64URL.decode(text), let parts = String(data: data, encoding: .utf8)?.split(separator: "|", maxSplits: 2),
              parts.count == 3, let seconds = Double(parts[0]), let company = UUID(uuidString: String(parts[1])) else {
            throw APIError(.badRequest, code: "invalid_parameter", message: "'cursor' is not a cursor of this list")
        }
        return (Date(timeIntervalSince1970: seconds), company, String(parts[2]))
    }
}
