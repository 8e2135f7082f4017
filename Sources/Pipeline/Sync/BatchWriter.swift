import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Storage

/// Writes a processed page: bulk upsert, soft deletes, quarantine; one statement each, whatever the page size.
enum BatchWriter {
    static func sqlType(_ type: TargetField.ValueType) -> String {
        switch type {
        case .text, .email, .phone, .country, .currency: return "text"
        case .decimal: return "numeric"
        case .double: return "float8"
        case .boolean: return "boolean"
        case .timestamp: return "timestamptz"
        }
    }

    static func resourceRows(_ rows: [TargetRow], schema: TargetSchema) -> ResourceRows {
        var result = ResourceRows()
        result.externalIds = rows.map(\.externalId)
        result.sourceUpdatedAt = rows.map { Timestamps.format($0.sourceUpdatedAt) }
        result.contentHashes = rows.map(\.contentHash)
        result.raw = rows.map(\.raw)
        for field in schema.fields where field.name != "external_id" {
            result.columns.append(ResourceRows.Column(
                name: field.column, sqlType: sqlType(field.type), values: rows.map { $0.values[field.name]?.databaseText ?? "" }))
        }
        return result
    }

    static func quarantineRows(_ records: [QuarantinedRecord]) -> QuarantineRows {
        var rows = QuarantineRows()
        for record in records {
            rows.externalIds.append(record.externalId ?? "")
            rows.recordKeys.append(record.recordKey)
            rows.reasons.append(JSONValue.array(record.reasons.map { reason in
                .object(["field": reason.field.map(JSONValue.string) ?? .null, "message": .string(reason.message)])
            }).jsonText)
            rows.raw.append(record.raw)
            rows.sourceUpdatedAt.append(record.sourceUpdatedAt.map(Timestamps.format) ?? "")
        }
        return rows
    }

    static func write(
        _ batch: ProcessedBatch, pipeline: PipelineDefinition, company: CompanyRecord, runId: Int64,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> PipelineRunsTable.Totals {
        let companyId = company.id
        var totals = PipelineRunsTable.Totals()
        totals.fetched = batch.fetched
        totals.quarantined = batch.quarantined.count
        let schema = pipeline.target.schema
        switch pipeline.target {
        case .companies:
            // One company per connection: the most recently modified record is its profile.
            if let latest = batch.rows.max(by: { $0.sourceUpdatedAt < $1.sourceUpdatedAt }) {
                let columns = schema.fields.map { field in
                    (name: field.column, sqlType: sqlType(field.type), value: latest.values[field.name]?.databaseText ?? "")
                }
                let updated = try await CompaniesTable.updateProfile(
                    companyId: companyId, columns: columns, sourceUpdatedAt: Timestamps.format(latest.sourceUpdatedAt), raw: latest.raw,
                    on: connection, logger: logger)
                totals.upserted = updated ? 1 : 0
            }
            totals.unchanged = batch.rows.count - totals.upserted
            if !batch.pruned.isEmpty, try await !CompaniesTable.hasProfile(companyId: companyId, on: connection, logger: logger) {
                totals.prunedSkipped = batch.pruned.count
            }
        case .locations, .contacts, .products:
            let table = pipeline.target
            var rows = resourceRows(batch.rows, schema: schema)
            rows.sourceModel = pipeline.source.model
            let counts = try await ResourceRowsTable.upsert(
                rows, into: table, companyId: companyId, on: connection, logger: logger)
            totals.upserted = counts.inserted + counts.updated
            totals.unchanged = batch.rows.count - totals.upserted
            let stored = try await ResourceRowsTable.countStored(
                externalIds: Array(Set(batch.pruned)), in: table, companyId: companyId, on: connection, logger: logger)
            totals.prunedSkipped = batch.pruned.count - stored
            totals.deleted = try await ResourceRowsTable.softDelete(
                externalIds: batch.deletions.map(\.externalId), deletedAt: batch.deletions.map { Timestamps.format($0.deletedAt) },
                from: table, companyId: companyId, on: connection, logger: logger)
            // The drift check counts records Nango holds pruned as held, until Nango deletes them.
            try await PrunedRecordsTable.remember(batch.pruned, companyId: companyId, model: pipeline.source.model, on: connection, logger: logger)
            try await PrunedRecordsTable.forget(batch.deletions.map(\.externalId), companyId: companyId, model: pipeline.source.model,
                                                on: connection, logger: logger)
        }
        try await QuarantineTable.upsert(
            quarantineRows(batch.quarantined), pipeline: pipeline.name, companyId: companyId, connectionId: company.connectionId,
            model: pipeline.source.model, runId: runId, on: connection, logger: logger)
        // A record that now passes, or that its source deleted, leaves nothing to fix.
        try await QuarantineTable.resolve(
            recordKeys: batch.rows.map(\.externalId) + batch.deletions.map(\.externalId),
            sourceUpdatedAt: batch.rows.map { Timestamps.format($0.sourceUpdatedAt) } + batch.deletions.map { Timestamps.format($0.deletedAt) },
            pipeline: pipeline.name, companyId: companyId, on: connection, logger: logger)
        return totals
    }
}
