import Foundation
import Hummingbird
import Logging
import MarketplaceCore
import NIOPosix
import Pipeline
import Storage

/// The pipelines page: the file as it is on disk with each error on its line, the pipelines in force, and the
/// dry-run box (`marketplace pipelines run` in the browser, against the loaded set or an edited copy pasted in;
/// nothing is written anywhere, least of all `pipelines.yaml`).
extension ConsoleController {
    struct PipelinesPage {
        struct Summary {
            let name: String
            let source: String
            let model: String
            let target: String
            let enabled: Bool
        }

        struct Line {
            let number: Int
            let text: String
            let errors: [String]
        }

        struct Diagnostic {
            let line: Int
            let column: Int
            let message: String
        }

        struct Labelled {
            let value: String
            let label: String
            let selected: Bool
        }

        struct DryRunResult {
            struct Row {
                let cells: [String]
            }

            struct Quarantined {
                let externalId: String
                let reasons: [String]
            }

            let pipeline: String
            let target: String
            let records: Int
            let columns: [String]
            let rows: [Row]
            let deletions: [String]
            let quarantined: [Quarantined]
            let pruned: Int
            let duplicates: Int
        }

        let frame: ConsoleFrame
        let file: String
        let hash: String?
        let loadedAt: Stamp?
        let pipelines: [Summary]
        let errors: [Diagnostic]
        let errorsAt: Stamp?
        let lines: [Line]
        let choices: [Labelled]
        let companies: [Labelled]
        let records: String
        let yaml: String
        let result: DryRunResult?
        let yamlErrors: [Diagnostic]
        let inputError: String?
        let ranDryRun: Bool
    }

    func pipelines(_ request: Request, _ context: AppRequestContext, dryRun form: [String: String]?) async throws -> Response {
        let session = try Self.session(context)
        let snapshot = registry.snapshot
        let parameters = Self.parameters(request)
        let errors = (snapshot.lastError?.diagnostics ?? []).map { PipelinesPage.Diagnostic(line: $0.line, column: $0.column, message: $0.message + ($0.hint.map { " (\($0))" } ?? "")) }
        let text = await Self.readFile(registry.path)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { index, line in
            PipelinesPage.Line(number: index + 1, text: String(line), errors: errors.filter { $0.line == index + 1 }.map { "column \($0.column): \($0.message)" })
        }
        var chosen = form?["pipeline"] ?? parameters["sample_pipeline"]
        var records = form?["records"] ?? ""
        let yaml = form?["yaml"] ?? ""
        if form == nil, let pipelineName = parameters["sample_pipeline"], let companyText = parameters["sample_company"] {
            guard let definition = snapshot.current?.pipeline(named: pipelineName), let companyId = UUID(uuidString: companyText) else {
                throw APIError(.badRequest, code: "invalid_request", message: "choose a loaded pipeline and a company to load records from")
            }
            let raws = try await ops.storedRecords(for: definition, companyId: companyId, limit: 20, logger: context.logger)
            records = "[\n" + raws.map { raw in
                (try? JSONValue.parse(raw.utf8)).map(\.jsonText) ?? raw
            }.joined(separator: ",\n") + "\n]"
        }

        var result: PipelinesPage.DryRunResult?
        var yamlErrors: [PipelinesPage.Diagnostic] = []
        var inputError: String?
        if let form {
            var set = snapshot.current
            if !yaml.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                do {
                    set = try PipelineLoader.parse(yaml: yaml, path: "edited copy")
                } catch {
                    set = nil
                    yamlErrors = error.diagnostics.map { .init(line: $0.line, column: $0.column, message: $0.message + ($0.hint.map { " (\($0))" } ?? "")) }
                }
            }
            if yamlErrors.isEmpty {
                if let set, let name = form["pipeline"], let definition = set.pipeline(named: name) {
                    do {
                        let run = try DryRun(pipeline: definition, input: Data(records.utf8), versionTag: set.hash)
                        result = Self.dryRunResult(run)
                    } catch {
                        inputError = error.description
                    }
                } else {
                    inputError = set == nil ? "no pipelines are loaded" : "no pipeline named '\(form["pipeline"] ?? "")' in this set; it has: "
                        + (set?.pipelines.map(\.name).joined(separator: ", ") ?? "")
                }
            }
            chosen = form["pipeline"]
        }
        let companies = try await ops.companies(after: nil, limit: 200, logger: context.logger)
        let sampleCompany = parameters["sample_company"]
        let page = PipelinesPage(
            frame: ConsoleFrame(title: "Pipelines", section: "/console/pipelines", session: session, notice: Self.notice(request)),
            file: registry.path, hash: snapshot.current?.hash, loadedAt: Stamp(snapshot.loadedAt),
            pipelines: (snapshot.current?.pipelines ?? []).map {
                .init(name: $0.name, source: $0.source.matchDescription, model: $0.source.model, target: $0.target.rawValue, enabled: $0.enabled)
            },
            errors: errors, errorsAt: Stamp(snapshot.lastErrorAt), lines: lines,
            choices: (snapshot.current?.pipelines ?? []).map { .init(value: $0.name, label: $0.name, selected: $0.name == chosen) },
            companies: companies.map {
                let id = $0.company.id.lowercasedString
                return .init(value: id, label: "\($0.company.name ?? $0.company.connectionId) (\($0.company.integrationId)/\($0.company.connectionId))",
                             selected: id == sampleCompany)
            },
            records: records, yaml: yaml, result: result, yamlErrors: yamlErrors, inputError: inputError, ranDryRun: form != nil)
        return renderer.page("pipelines", page)
    }

    static func dryRunResult(_ run: DryRun) -> PipelinesPage.DryRunResult {
        let batch = run.batch
        let columns = ["external_id"] + run.pipeline.target.schema.fields.map(\.name).filter { name in
            name != "external_id" && batch.rows.contains { $0.values[name] != nil }
        }
        return .init(
            pipeline: run.pipeline.name, target: run.pipeline.target.rawValue, records: batch.fetched, columns: columns,
            rows: batch.rows.map { row in .init(cells: columns.map { $0 == "external_id" ? row.externalId : row.values[$0]?.databaseText ?? "" }) },
            deletions: batch.deletions.map(\.externalId),
            quarantined: batch.quarantined.map { .init(externalId: $0.externalId ?? "(no id)", reasons: $0.reasons.map(\.description)) },
            pruned: batch.pruned.count, duplicates: batch.duplicates)
    }

    /// The file as it is now (it may be an edit that was refused), at most 1 MiB of it. Read on NIO's thread pool: a
    /// blocking read would hold one of the few threads every request's task runs on.
    static func readFile(_ path: String) async -> String {
        let data = try? await NIOThreadPool.singleton.runIfActive { () -> Data in
            guard let handle = FileHandle(forReadingAtPath: path) else { return Data() }
            defer { try? handle.close() }
            return (try? handle.read(upToCount: 1 << 20)) ?? Data()
        }
        return String(decoding: data ?? Data(), as: UTF8.self)
    }
}
