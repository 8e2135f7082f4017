import Storage
import Foundation
import MarketplaceCore

/// `marketplace pipelines run`: the stages on records from a file, no database, no network.
public struct DryRun: Sendable {
    public struct InputError: Error, CustomStringConvertible {
        public let description: String
    }

    public let pipeline: PipelineDefinition
    public let batch: ProcessedBatch

    /// `input` is a Nango records page (`{"records": [...], "next_cursor": ...}`) or a plain array of records.
    public init(pipeline: PipelineDefinition, input: Data, versionTag: String = "dry-run") throws(InputError) {
        let json: JSONValue
        do { json = try JSONDecoder().decode(JSONValue.self, from: input) } catch {
            throw InputError(description: "the input is not valid JSON: \(error.localizedDescription)")
        }
        let items: [JSONValue]
        switch json {
        case .array(let values): items = values
        case .object(let object):
            guard case .array(let values)? = object["records"] else {
                throw InputError(description: "the input must be a JSON array of records or a Nango page with a 'records' array")
            }
            items = values
        default:
            throw InputError(description: "the input must be a JSON array of records or a Nango page with a 'records' array")
        }
        var records: [SourceRecord] = []
        for (index, item) in items.enumerated() {
            guard case .object(let object) = item else { throw InputError(description: "record \(index) is not a JSON object") }
            records.append(SourceRecord(json: object))
        }
        self.pipeline = pipeline
        self.batch = RecordProcessor(pipeline: pipeline, versionTag: versionTag).process(records)
    }

    public var json: String {
        let rows: [JSONValue] = batch.rows.map { row in
            var values: [String: JSONValue] = [:]
            for (key, value) in row.values { values[key] = .string(value.databaseText) }
            return .object(["external_id": .string(row.externalId), "values": .object(values)])
        }
        let quarantined: [JSONValue] = batch.quarantined.map { entry in
            .object([
                "external_id": entry.externalId.map(JSONValue.string) ?? .null,
                "reasons": .array(entry.reasons.map { .string($0.description) }),
            ])
        }
        let report: JSONValue = .object([
            "pipeline": .string(pipeline.name), "target": .string(pipeline.target.rawValue),
            "summary": .object([
                "records": .number(Double(batch.fetched)), "written": .number(Double(batch.rows.count)),
                "deleted": .number(Double(batch.deletions.count)), "quarantined": .number(Double(batch.quarantined.count)),
                "duplicates": .number(Double(batch.duplicates)), "dropped_values": .number(Double(batch.droppedValues)),
            ]),
            "write": .array(rows), "delete": .array(batch.deletions.map { .string($0.externalId) }), "quarantine": .array(quarantined),
        ])
        return report.jsonText
    }

    public var table: String {
        let columns = ["external_id"] + pipeline.target.schema.fields.map(\.name).filter { name in
            name != "external_id" && batch.rows.contains { $0.values[name] != nil }
        }
        var lines: [[String]] = [columns]
        for row in batch.rows { lines.append(columns.map { row.values[$0]?.databaseText ?? "" }) }
        let widths = columns.indices.map { index in min(40, lines.map { $0[index].count }.max() ?? 0) }
        func render(_ cells: [String]) -> String {
            zip(cells, widths).map { cell, width in
                let clipped = cell.count > width ? String(cell.prefix(width - 1)) + "…" : cell
                return clipped.padding(toLength: width, withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        var output = "pipeline \(pipeline.name) → \(pipeline.target.rawValue): \(batch.fetched) record(s), \(batch.rows.count) to write, "
            + "\(batch.deletions.count) to delete, \(batch.quarantined.count) quarantined\n\n"
        output += render(lines[0]) + "\n" + render(widths.map { String(repeating: "-", count: $0) }) + "\n"
        for line in lines.dropFirst() { output += render(line) + "\n" }
        if !batch.deletions.isEmpty {
            output += "\ndelete: " + batch.deletions.map(\.externalId).joined(separator: ", ") + "\n"
        }
        if !batch.quarantined.isEmpty {
            output += "\nquarantine:\n"
            for entry in batch.quarantined {
                output += "  \(entry.externalId ?? "(no id)"): " + entry.reasons.map(\.description).joined(separator: "; ") + "\n"
            }
        }
        return output
    }
}
