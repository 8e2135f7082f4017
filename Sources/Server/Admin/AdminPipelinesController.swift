import Foundation
import Hummingbird
import Logging
import MarketplaceCore
import Pipeline
import Storage

/// Admin views of the pipeline: the loaded pipelines file (and the errors of a refused edit), a reload,
/// a pipeline's backfill and re-derivation, and the job queue with the retry of a dead job.
struct AdminPipelinesController<Context: RequestContext>: Sendable {
    let registry: PipelineRegistry
    let ops: PipelineOps
    let actions: PipelineActions
    let fullResyncs: FullResyncs

    struct PipelinesAnswer: Encodable {
        struct Summary: Encodable {
            let name: String
            let integration: String?
            let provider: String?
            let model: String
            let target: String
            let enabled: Bool
            let pageSize: Int
            let fullResyncSeconds: Int64?

            enum CodingKeys: String, CodingKey {
                case name, integration, provider, model, target, enabled
                case pageSize = "page_size"
                case fullResyncSeconds = "full_resync_seconds"
            }

            // Written as null when unset, as the OpenAPI schema says.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(name, forKey: .name)
                try container.encode(integration, forKey: .integration)
                try container.encode(provider, forKey: .provider)
                try container.encode(model, forKey: .model)
                try container.encode(target, forKey: .target)
                try container.encode(enabled, forKey: .enabled)
                try container.encode(pageSize, forKey: .pageSize)
                try container.encode(fullResyncSeconds, forKey: .fullResyncSeconds)
            }
        }

        let file: String
        let hash: String?
        let loadedAt: Date?
        let pipelines: [Summary]
        let errors: [String]?
        let errorsAt: Date?

        enum CodingKeys: String, CodingKey {
            case file, hash, pipelines, errors
            case loadedAt = "loaded_at"
            case errorsAt = "errors_at"
        }
    }

    func register(on group: RouterGroup<Context>) {
        group.get("/pipelines") { _, _ in try JSONResponse.make(answer()) }
        for action in PipelineActionJob.Action.allCases {
            group.post("/pipelines/:name/\(action.name)") { request, context in
                guard let name = context.parameters.get("name") else { throw APIError.notFound }
                let companyId = try AdminOpsController<Context>.uuid(request.uri.queryParameters["company_id"].map(String.init), "company_id")
                let ids = try await actions.request(action, pipeline: name, companyId: companyId, logger: context.logger)
                return try JSONResponse.make(["job_ids": ids], status: .accepted)
            }
        }
        group.post("/pipelines/:name/full-resync") { request, context in
            guard let name = context.parameters.get("name") else { throw APIError.notFound }
            let companyId = try AdminOpsController<Context>.uuid(request.uri.queryParameters["company_id"].map(String.init), "company_id")
            let ids = try await fullResyncs.request(pipeline: name, companyId: companyId, logger: context.logger)
            return try JSONResponse.make(["job_ids": ids], status: .accepted)
        }
        group.post("/pipelines/reload") { _, context in
            switch await actions.reload(logger: context.logger) {
            case .success: return try JSONResponse.make(answer())
            case .failure: return try JSONResponse.make(answer(), status: .unprocessableContent)
            }
        }
        group.get("/jobs") { request, context in
            let status = request.uri.queryParameters["status"].map(String.init)
            if let status, JobStatus(rawValue: status) == nil {
                throw APIError(.badRequest, code: "invalid_request",
                               message: "'status' must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let limit = try Self.limit(request.uri.queryParameters["limit"].map(String.init))
            let jobs = try await ops.jobs(status: status, limit: limit, logger: context.logger)
            return try JSONResponse.make(["data": jobs.map(JobView.init)])
        }
        group.post("/jobs/:id/retry") { _, context in
            guard let id = context.parameters.get("id").flatMap(Int64.init) else {
                throw APIError(.badRequest, code: "invalid_request", message: "job id must be a number")
            }
            return try JSONResponse.make(JobView(try await ops.retry(jobId: id, logger: context.logger)), status: .accepted)
        }
    }

    static func limit(_ text: String?) throws -> Int {
        guard let text else { return 50 }
        guard let limit = Int(text), (1...500).contains(limit) else {
            throw APIError(.badRequest, code: "invalid_request", message: "'limit' must be a number from 1 to 500")
        }
        return limit
    }

    func answer() -> PipelinesAnswer {
        let snapshot = registry.snapshot
        return PipelinesAnswer(
            file: registry.path, hash: snapshot.current?.hash, loadedAt: snapshot.loadedAt,
            pipelines: snapshot.current?.pipelines.map {
                .init(name: $0.name, integration: $0.source.integration, provider: $0.source.provider, model: $0.source.model,
                      target: $0.target.rawValue, enabled: $0.enabled, pageSize: $0.pageSize,
                      fullResyncSeconds: $0.source.fullResync?.components.seconds)
            } ?? [],
            errors: snapshot.lastError?.diagnostics.map(\.description), errorsAt: snapshot.lastErrorAt)
    }
}
