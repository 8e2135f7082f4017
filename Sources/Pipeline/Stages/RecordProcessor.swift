import Storage
import Crypto
import Foundation
import MarketplaceCore

/// Runs a pipeline's stages (map, normalize, validate, dedupe) over a page of records. Pure: no I/O.
public struct RecordProcessor: Sendable {
    public let pipeline: PipelineDefinition
    /// Folded into each row's content hash: a new pipelines file rewrites rows it maps differently.
    public let versionTag: String

    public init(pipeline: PipelineDefinition, versionTag: String) {
        self.pipeline = pipeline
        self.versionTag = versionTag
    }

    public func process(_ records: [SourceRecord]) -> ProcessedBatch {
        var batch = ProcessedBatch()
        batch.fetched = records.count
        var rows: [TargetRow] = []
        rows.reserveCapacity(records.count)
        for record in records {
            switch processOne(record) {
            case .row(let row, let dropped):
                rows.append(row)
                batch.droppedValues += dropped
            case .deletion(let deletion): batch.deletions.append(deletion)
            case .quarantined(let entry): batch.quarantined.append(entry)
            case .pruned(let externalId): batch.pruned.append(externalId)
            }
        }
        let (kept, duplicates) = Self.dedupe(rows, key: pipeline.dedupeKey)
        batch.rows = kept
        batch.duplicates = duplicates
        return batch
    }

    enum Outcome {
        case row(TargetRow, dropped: Int)
        case deletion(TargetDeletion)
        case quarantined(QuarantinedRecord)
        case pruned(externalId: String)
    }

    /// Keeps, for each key, the version Nango modified last (the later one on a tie: the stream's order).
    /// Rows are always unique by external id too: one statement cannot upsert a row twice.
    static func dedupe(_ rows: [TargetRow], key: [TargetField]?) -> ([TargetRow], Int) {
        var seen: [String: Int] = [:]
        var kept: [TargetRow] = []
        kept.reserveCapacity(rows.count)
        var duplicates = 0
        func keys(_ row: TargetRow) -> [String] {
            var keys = ["id:" + row.externalId]
            if let key {
                let parts = key.map { row.values[$0.name]?.databaseText }
                if parts.allSatisfy({ $0 != nil }) { keys.append("key:" + parts.map { $0! }.joined(separator: "\u{1F}")) }
            }
            return keys
        }
        for row in rows {
            let rowKeys = keys(row)
            if let index = rowKeys.lazy.compactMap({ seen[$0] }).first {
                duplicates += 1
                if row.sourceUpdatedAt >= kept[index].sourceUpdatedAt {
                    for old in keys(kept[index]) { seen[old] = nil }
                    kept[index] = row
                    for new in rowKeys { seen[new] = index }
                }
            } else {
                for new in rowKeys { seen[new] = kept.count }
                kept.append(row)
            }
        }
        return (kept, duplicates)
    }

    func processOne(_ record: SourceRecord) -> Outcome {
        let raw = JSONValue.object(record.fields).jsonText
        var values: [String: Working] = [:]
        for (field, source) in pipeline.mapping.fields {
            if let value = evaluate(source, on: record) { values[field.name] = .json(value) }
        }
        let externalId = values["external_id"].flatMap(\.json).flatMap(Self.text) ?? record.fields["id"].flatMap(Self.text)
        if record.action == .deleted {
            if let externalId {
                return .deletion(TargetDeletion(externalId: externalId, deletedAt: record.deletedAt ?? record.lastModifiedAt ?? Date()))
            }
            return .quarantined(quarantine(record, externalId: nil, raw: raw, reasons: [
                QuarantineReason(field: "external_id", message: "a deleted record without an id cannot be applied"),
            ]))
        }

        if record.isPruned {
            // Pruning empties the payload but keeps ADDED/UPDATED: nothing here may blank a stored row.
            return .pruned(externalId: externalId ?? "")
        }
        if let problem = record.decodingProblem ?? Self.unstorable(record.fields) {
            return .quarantined(quarantine(record, externalId: externalId, raw: Self.storable(record.fields).jsonText, reasons: [
                QuarantineReason(field: nil, message: problem),
            ]))
        }

        var problems: [String: String] = [:]
        var typeProblems: [QuarantineReason] = []
        var moneyCurrencies: [(FieldNormalizer, String?)] = []
        // Phones last: their region can come from the record's normalized country.
        let order = pipeline.target.schema.fields.filter { $0.type != .phone } + pipeline.target.schema.fields.filter { $0.type == .phone }
        for field in order {
            guard let working = values[field.name] else { continue }
            var current: Working? = working
            for normalizer in pipeline.normalizers where normalizer.field == field {
                guard let value = current else { break }
                switch apply(normalizer, to: value, values: values) {
                case .success(let next):
                    current = next.0
                    if case .money = normalizer.kind { moneyCurrencies.append((normalizer, next.1)) }
                case .failure(let problem):
                    problems[field.name] = problem.message
                    current = nil
                }
            }
            if let value = current, case .json(let json) = value {
                switch coerce(json, to: field, values: values) {
                case .success(let typed): current = typed.map(Working.typed)
                case .failure(let problem):
                    current = nil
                    if problem.isTypeMismatch {
                        typeProblems.append(QuarantineReason(field: field.name, message: problem.message))
                    } else {
                        problems[field.name] = problem.message
                    }
                }
            }
            values[field.name] = current
        }
        for (normalizer, detected) in moneyCurrencies {
            guard case .money(let currencyField?, let defaultCurrency) = normalizer.kind, values[currencyField.name] == nil else { continue }
            if let code = detected ?? defaultCurrency { values[currencyField.name] = .typed(.text(code)) }
        }

        var reasons = typeProblems
        reasons += validate(values, problems: problems)
        var dropped = 0
        for (field, _) in problems where !reasons.contains(where: { $0.field == field }) { dropped += 1 }
        guard let externalId, !externalId.isEmpty || pipeline.target == .companies else {
            reasons.insert(QuarantineReason(field: "external_id", message: "is required but empty"), at: 0)
            return .quarantined(quarantine(record, externalId: nil, raw: raw, reasons: reasons))
        }
        if !reasons.isEmpty {
            return .quarantined(quarantine(record, externalId: externalId, raw: raw, reasons: reasons))
        }
        var typed: [String: TargetValue] = [:]
        for (name, value) in values { if case .typed(let v) = value { typed[name] = v } }
        typed["external_id"] = .text(externalId)
        return .row(TargetRow(
            externalId: externalId, values: typed, sourceUpdatedAt: record.lastModifiedAt ?? Date(timeIntervalSince1970: 0),
            cursor: record.cursor ?? "", raw: raw, contentHash: contentHash(raw: raw, values: typed)), dropped: dropped)
    }

    /// Why Postgres could not hold the record as served, if it could not: `text` and `jsonb` refuse U+0000,
    /// and a number beyond a double's range has no value to store.
    static func unstorable(_ fields: [String: JSONValue]) -> String? {
        func check(_ value: JSONValue) -> String? {
            switch value {
            case .string(let text) where text.utf8.contains(0): return "a string holds U+0000 (NUL), which Postgres cannot store"
            case .number(let number) where !number.isFinite: return "a number is out of range"
            case .array(let values): return values.lazy.compactMap(check).first
            case .object(let object):
                if object.keys.contains(where: { $0.utf8.contains(0) }) { return "a key holds U+0000 (NUL), which Postgres cannot store" }
                return object.values.lazy.compactMap(check).first
            default: return nil
            }
        }
        return check(.object(fields))
    }

    /// The record in a form Postgres accepts, for quarantine: U+0000 written out as the text `\u0000`.
    static func storable(_ fields: [String: JSONValue]) -> JSONValue {
        func clean(_ value: JSONValue) -> JSONValue {
            switch value {
            case .string(let text): .string(text.replacingOccurrences(of: "\u{0}", with: "\\u0000"))
            case .array(let values): .array(values.map(clean))
            case .object(let object):
                .object(Dictionary(object.map { (key: $0.key.replacingOccurrences(of: "\u{0}", with: "\\u0000"), value: clean($0.value)) }) { first, _ in first })
            default: value
            }
        }
        return clean(.object(fields))
    }

    func quarantine(_ record: SourceRecord, externalId: String?, raw: String, reasons: [QuarantineReason]) -> QuarantinedRecord {
        QuarantinedRecord(
            externalId: externalId, recordKey: externalId ?? Self.sha256(raw), reasons: reasons, raw: raw, sourceUpdatedAt: record.lastModifiedAt)
    }

    func contentHash(raw: String, values: [String: TargetValue]) -> String {
        var text = versionTag + "\u{1E}" + raw
        for key in values.keys.sorted() { text += "\u{1E}" + key + "=" + values[key]!.databaseText }
        return Self.sha256(text)
    }

    static func sha256(_ text: String) -> String {
        var text = text
        let digest = text.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        return Hex.encode(digest.prefix(16))
    }
}
