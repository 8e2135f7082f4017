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
        Hex.encode(SHA256.hash(data: Data(text.utf8)).prefix(16))
    }

    // MARK: map

    enum Working {
        case json(JSONValue)
        case typed(TargetValue)

        var json: JSONValue? { if case .json(let value) = self { return value } else { return nil } }
        var typed: TargetValue? { if case .typed(let value) = self { return value } else { return nil } }
    }

    static func isEmpty(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return true
        case .string(let text): return text.allSatisfy(\.isWhitespace)
        case .array(let values): return values.isEmpty
        case .object(let object): return object.isEmpty
        default: return false
        }
    }

    static func text(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text):
            let trimmed = text.trimmedWhitespace
            return trimmed.isEmpty ? nil : trimmed
        case .number(let number):
            return number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): return flag ? "true" : "false"
        default: return nil
        }
    }

    func evaluate(_ source: FieldMapping.Source, on record: SourceRecord) -> JSONValue? {
        switch source {
        case .path(let path):
            // Not `flatMap { isEmpty($0) ? nil : $0 }`: JSONValue is ExpressibleByNilLiteral, so that nil is `.null`.
            guard let value = record.value(at: path), !Self.isEmpty(value) else { return nil }
            return value
        case .firstNonEmpty(let paths):
            for path in paths { if let value = record.value(at: path), !Self.isEmpty(value) { return value } }
            return nil
        case .join(let paths, let separator):
            let parts = paths.compactMap { record.value(at: $0).flatMap(Self.text) }
            guard !parts.isEmpty else { return nil }
            return JSONValue.string(parts.joined(separator: separator))
        case .constant(let value):
            guard !Self.isEmpty(value) else { return nil }
            return value
        }
    }

    // MARK: normalize

    struct Problem: Error {
        var message: String
        var isTypeMismatch = false
    }

    func region(for normalizerRegion: String?, regionFrom: TargetField?, values: [String: Working]) -> String? {
        if let regionFrom, case .typed(.text(let code))? = values[regionFrom.name] { return code }
        if let normalizerRegion { return normalizerRegion }
        if case .typed(.text(let code))? = values["address.country"] { return code }
        return pipeline.defaultRegion
    }

    func apply(_ normalizer: FieldNormalizer, to value: Working, values: [String: Working]) -> Result<(Working, String?), Problem> {
        let text: String?
        switch value {
        case .json(let json): text = Self.text(json)
        case .typed(let typed): text = typed.databaseText
        }
        switch normalizer.kind {
        case .trim:
            guard let text else { return .success((value, nil)) }
            return .success((.json(.string(text.split(whereSeparator: \.isWhitespace).joined(separator: " "))), nil))
        case .lowercase:
            return .success((text.map { .json(.string($0.lowercased())) } ?? value, nil))
        case .uppercase:
            return .success((text.map { .json(.string($0.uppercased())) } ?? value, nil))
        case .money:
            if case .json(.number(let number)) = value, let amount = Money.decimal(number) {
                return .success((.typed(.decimal(amount)), nil))
            }
            guard let text else { return .failure(Problem(message: "expected an amount", isTypeMismatch: true)) }
            do {
                let money = try Money.parse(text)
                return .success((.typed(.decimal(money.amount)), money.currency))
            } catch {
                return .failure(Problem(message: error.description, isTypeMismatch: true))
            }
        case .email, .e164, .country, .currency, .timestamp:
            guard case .json(let json) = value else { return .success((value, nil)) }
            return coerce(json, to: normalizer.field, values: values, kind: normalizer.kind).map { ($0.map(Working.typed) ?? value, nil) }
        }
    }

    /// A mapped value in its field's type: the field's own normalizer when the file names none.
    func coerce(_ json: JSONValue, to field: TargetField, values: [String: Working], kind: FieldNormalizer.Kind? = nil) -> Result<TargetValue?, Problem> {
        switch field.type {
        case .text:
            guard let text = Self.text(json) else {
                return .failure(Problem(message: "expected text, found \(Self.describe(json))", isTypeMismatch: true))
            }
            return .success(.text(text))
        case .email:
            guard let text = Self.text(json) else { return .failure(Problem(message: "expected an email address, found \(Self.describe(json))")) }
            do { return .success(.text(try EmailAddress.normalize(text))) } catch {
                return .failure(Problem(message: "'\(text)' \(error.description)"))
            }
        case .phone:
            guard let text = Self.text(json) else { return .failure(Problem(message: "expected a phone number, found \(Self.describe(json))")) }
            var explicitRegion: String?, regionFrom: TargetField?
            if case .e164(let region, let from)? = kind ?? pipeline.normalizers.first(where: { $0.field == field })?.kind {
                explicitRegion = region
                regionFrom = from
            }
            let region = region(for: explicitRegion, regionFrom: regionFrom, values: values)
            do { return .success(.text(try PhoneNumbers.e164(text, defaultRegion: region))) } catch {
                return .failure(Problem(message: "'\(text)' \(error.description)"))
            }
        case .country:
            guard let text = Self.text(json), let code = CountryCodes.alpha2(text) else {
                return .failure(Problem(message: "'\(Self.text(json) ?? Self.describe(json))' is not a known country"))
            }
            return .success(.text(code))
        case .currency:
            guard let text = Self.text(json), let code = CurrencyCodes.canonical(text) else {
                return .failure(Problem(message: "'\(Self.text(json) ?? Self.describe(json))' is not an ISO 4217 currency"))
            }
            return .success(.text(code))
        case .decimal:
            if case .number(let number) = json, let amount = Money.decimal(number) { return .success(.decimal(amount)) }
            guard let text = Self.text(json) else { return .failure(Problem(message: "expected a number, found \(Self.describe(json))", isTypeMismatch: true)) }
            do { return .success(.decimal(try Money.parse(text).amount)) } catch {
                return .failure(Problem(message: "expected a number, found '\(text)'", isTypeMismatch: true))
            }
        case .double:
            if case .number(let number) = json { return .success(.double(number)) }
            if let text = Self.text(json), let number = Double(text) { return .success(.double(number)) }
            return .failure(Problem(message: "expected a number, found \(Self.describe(json))", isTypeMismatch: true))
        case .boolean:
            if case .bool(let flag) = json { return .success(.boolean(flag)) }
            switch Self.text(json)?.lowercased() {
            case "true", "yes", "1", "y", "active": return .success(.boolean(true))
            case "false", "no", "0", "n", "inactive": return .success(.boolean(false))
            default: return .failure(Problem(message: "expected true or false, found \(Self.describe(json))", isTypeMismatch: true))
            }
        case .timestamp:
            if case .number(let number) = json { return .success(.timestamp(Date(timeIntervalSince1970: number > 1e12 ? number / 1000 : number))) }
            guard let text = Self.text(json), let date = Timestamps.parse(text) else {
                return .failure(Problem(message: "expected an ISO 8601 time, found \(Self.describe(json))", isTypeMismatch: true))
            }
            return .success(.timestamp(date))
        }
    }

    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number: return "a number"
        case .string(let text): return "'\(text)'"
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    // MARK: validate

    func validate(_ values: [String: Working], problems: [String: String]) -> [QuarantineReason] {
        var reasons: [QuarantineReason] = []
        let rules = pipeline.validation
        for field in rules.required where values[field.name]?.typed == nil {
            reasons.append(QuarantineReason(field: field.name, message: problems[field.name] ?? "is required but empty"))
        }
        for (field, rule) in rules.rules {
            if let problem = problems[field.name] {
                if !reasons.contains(where: { $0.field == field.name }) { reasons.append(QuarantineReason(field: field.name, message: problem)) }
                continue
            }
            guard let value = values[field.name]?.typed else { continue }
            let text = value.databaseText
            if let format = rule.format, !Self.matches(format, text) {
                reasons.append(QuarantineReason(field: field.name, message: "'\(text)' is not a valid \(format.rawValue)"))
            }
            if let allowed = rule.allowed, !allowed.contains(text) {
                reasons.append(QuarantineReason(field: field.name, message: "'\(text)' is not one of " + allowed.joined(separator: ", ")))
            }
            let number: Double? = switch value {
            case .decimal(let d): NSDecimalNumber(decimal: d).doubleValue
            case .double(let d): d
            default: nil
            }
            if let number, let minimum = rule.minimum, number < minimum {
                reasons.append(QuarantineReason(field: field.name, message: "\(text) is below the minimum \(minimum)"))
            }
            if let number, let maximum = rule.maximum, number > maximum {
                reasons.append(QuarantineReason(field: field.name, message: "\(text) is above the maximum \(maximum)"))
            }
            if let minLength = rule.minLength, text.count < minLength {
                reasons.append(QuarantineReason(field: field.name, message: "is shorter than \(minLength) characters"))
            }
            if let maxLength = rule.maxLength, text.count > maxLength {
                reasons.append(QuarantineReason(field: field.name, message: "is longer than \(maxLength) characters"))
            }
        }
        return reasons
    }

    static func matches(_ format: ValidationRules.Format, _ text: String) -> Bool {
        switch format {
        case .email: return (try? EmailAddress.normalize(text)) == text
        case .e164: return text.range(of: "^\\+[1-9][0-9]{6,14}$", options: .regularExpression) != nil
        case .country: return CountryCodes.alpha2Codes.contains(text)
        case .currency: return CurrencyCodes.canonical(text) == text
        case .url:
            guard let url = URLComponents(string: text.contains("://") ? text : "https://" + text) else { return false }
            return url.host.map { $0.contains(".") } ?? false
        case .uuid: return UUID(uuidString: text) != nil
        }
    }
}
