import Foundation
import HTTPTypes
import Hummingbird
import Ingest
import Logging
import MarketplaceCore
import Nango
import Pipeline
import Storage

/// The quarantine page: open entries with their reasons, by pipeline.
extension ConsoleController {
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
        let status = parameters["status"] ?? QuarantineStatus.open.rawValue
        guard QuarantineStatus(rawValue: status) != nil else {
            throw APIError(.badRequest, code: "invalid_request",
                           message: "'status' must be one of \(QuarantineStatus.allCases.map(\.rawValue).joined(separator: ", "))")
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
            statuses: QuarantineStatus.allCases.map { Option(value: $0.rawValue, selected: $0.rawValue == status) },
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
            count: entries.count, open: status == QuarantineStatus.open.rawValue))
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
}
