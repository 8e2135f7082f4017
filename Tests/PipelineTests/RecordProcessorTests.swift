import Storage
import Foundation
import MarketplaceCore
import Testing

@testable import Pipeline

@Suite struct RecordProcessorTests {
    static let shipped = try! PipelineLoader.load(path: PipelineLoaderTests.repositoryFile)

    static func fixture(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "json"))
        return try Data(contentsOf: url)
    }

    @Test func quickbooksCustomersMapNormalizeValidateAndDedupe() throws {
        let pipeline = try #require(Self.shipped.pipeline(named: "quickbooks-customers"))
        let run = try DryRun(pipeline: pipeline, input: try Self.fixture("quickbooks-customers"))
        let batch = run.batch
        #expect(batch.fetched == 4)
        // Record 1 twice: the later version wins.
        #expect(batch.rows.count == 1)
        #expect(batch.duplicates == 1)
        let row = try #require(batch.rows.first)
        #expect(row.externalId == "1")
        #expect(row.values["display_name"] == .text("Bill's Windsurf Shop (renamed)"))
        #expect(row.values["email"] == .text("surf@intuit.com"))
        #expect(row.values["phone"] == .text("+14154446538"))
        #expect(row.values["is_active"] == .boolean(true))
        #expect(row.cursor == "c4")
        // Record 2: no name and a malformed email, every reason kept.
        let rejected = try #require(batch.quarantined.first)
        #expect(rejected.externalId == "2")
        #expect(rejected.reasons.map(\.field) == ["display_name", "email"])
        #expect(rejected.reasons.last?.message == "'not-an-email' has no '@'")
        #expect(rejected.raw.contains("\"not-an-email\""))
        // Record 3: DELETED.
        #expect(batch.deletions.map(\.externalId) == ["3"])
        #expect(run.json.contains("\"quarantined\":1"))
        #expect(run.table.contains("Bill's Windsurf Shop (renamed)"))
    }

    static func record(_ fields: [String: JSONValue], modified: String = "2026-05-05T10:00:00Z", action: SourceRecord.Action = .added) -> SourceRecord {
        SourceRecord(fields: fields, action: action, lastModifiedAt: Timestamps.parse(modified), cursor: modified)
    }

    @Test func salesforceContactsReadNestedPathsAndTakeTheRegionFromTheCountry() throws {
        let pipeline = try #require(Self.shipped.pipeline(named: "salesforce-contacts"))
        let batch = RecordProcessor(pipeline: pipeline, versionTag: "t").process([
            Self.record([
                "id": "003A", "first_name": "Rose", "last_name": "Gonzalez", "email": "Rose@Edge.COM", "phone": "030 12345678",
                "mailing_address": ["city": "Berlin", "country": "Deutschland"], "created_at": "2026-05-01T07:25:37.000+0000",
            ]),
        ])
        let row = try #require(batch.rows.first)
        #expect(row.values["display_name"] == .text("Rose Gonzalez"))
        #expect(row.values["address.country"] == .text("DE"))
        #expect(row.values["address.city"] == .text("Berlin"))
        #expect(row.values["phone"] == .text("+493012345678"))
        #expect(row.values["email"] == .text("Rose@edge.com"))
        #expect(row.values["created_at"] == .timestamp(Date(timeIntervalSince1970: 1_777_620_337)))
    }

    @Test func pricesBecomeExactDecimalsWithACurrencyAndBrokenOnesAreQuarantined() throws {
        let pipeline = try #require(Self.shipped.pipeline(named: "hubspot-products"))
        let batch = RecordProcessor(pipeline: pipeline, versionTag: "t").process([
            Self.record(["id": "1", "name": "Pro plan", "price": "49.90"]),
            Self.record(["id": "2", "name": "Team plan", "price": 19.99]),
            Self.record(["id": "3", "name": "Odd", "price": "N/A"]),
            Self.record(["id": "4", "name": "Refund", "price": -5]),
        ])
        #expect(batch.rows.map(\.externalId) == ["1", "2"])
        #expect(batch.rows[0].values["unit_price"] == .decimal(Decimal(string: "49.9")!))
        #expect(batch.rows[1].values["unit_price"]?.databaseText == "19.99")
        #expect(batch.rows[0].values["currency"] == .text("USD"))
        #expect(batch.quarantined.map(\.externalId) == ["3", "4"])
        #expect(batch.quarantined[0].reasons.first?.message == "'N/A' is not an amount")
        #expect(batch.quarantined[1].reasons.first?.message.contains("below the minimum") == true)
    }

    @Test func aValueThatCannotBeNormalizedOnAnUnvalidatedFieldIsLeftEmpty() throws {
        let pipeline = try #require(Self.shipped.pipeline(named: "hubspot-contacts"))
        let batch = RecordProcessor(pipeline: pipeline, versionTag: "t").process([
            Self.record(["id": "9", "firstName": "Ana", "lastName": "Silva", "email": "ana@example.com", "phone": "not a phone"]),
        ])
        #expect(batch.rows.count == 1)
        #expect(batch.rows.first?.values["phone"] == nil)
        #expect(batch.droppedValues == 1)
        #expect(batch.rows.first?.raw.contains("not a phone") == true)
    }

    @Test func emptyStringsAreEmptyNotNull() throws {
        let pipeline = try #require(Self.shipped.pipeline(named: "hubspot-companies"))
        let batch = RecordProcessor(pipeline: pipeline, versionTag: "t").process([
            Self.record(["id": "1", "name": "Thames Ltd", "city": "London", "state": "", "country": "UK"]),
        ])
        #expect(batch.quarantined.isEmpty)
        #expect(batch.rows.first?.values["address.region"] == nil)
        #expect(batch.rows.first?.values["address.country"] == .text("GB"))
        let contacts = try #require(Self.shipped.pipeline(named: "hubspot-contacts"))
        let unnamed = RecordProcessor(pipeline: contacts, versionTag: "t").process([Self.record(["id": "2", "firstName": "", "email": "a@b.io"])])
        #expect(unnamed.quarantined.first?.reasons.first == QuarantineReason(field: "display_name", message: "is required but empty"))
    }

    @Test func theContentHashChangesWithTheRecordAndThePipelinesVersionOnly() throws {
        let pipeline = try #require(Self.shipped.pipeline(named: "xero-items"))
        let record = Self.record(["id": "a", "name": "Widget"])
        let first = RecordProcessor(pipeline: pipeline, versionTag: "v1").process([record]).rows[0]
        let again = RecordProcessor(pipeline: pipeline, versionTag: "v1").process([record]).rows[0]
        let changed = RecordProcessor(pipeline: pipeline, versionTag: "v1").process([Self.record(["id": "a", "name": "Widget 2"])]).rows[0]
        let newFile = RecordProcessor(pipeline: pipeline, versionTag: "v2").process([record]).rows[0]
        #expect(first.contentHash == again.contentHash)
        #expect(first.contentHash != changed.contentHash)
        #expect(first.contentHash != newFile.contentHash)
    }

    @Test func dedupeKeepsTheVersionNangoModifiedLast() {
        func row(_ id: String, _ email: String, _ seconds: Double) -> TargetRow {
            TargetRow(externalId: id, values: ["email": .text(email)], sourceUpdatedAt: Date(timeIntervalSince1970: seconds),
                      cursor: "", raw: "{}", contentHash: id)
        }
        let key = [Resource.contacts.schema.field("email")!]
        let (kept, duplicates) = RecordProcessor.dedupe([row("1", "a@x.io", 10), row("2", "a@x.io", 20), row("3", "b@x.io", 5)], key: key)
        #expect(kept.map(\.externalId) == ["2", "3"])
        #expect(duplicates == 1)
        let (older, _) = RecordProcessor.dedupe([row("1", "a@x.io", 30), row("1", "a@x.io", 20)], key: nil)
        #expect(older.first?.sourceUpdatedAt == Date(timeIntervalSince1970: 30))
    }

    @Test func backoffGrowsIsCappedAndJittered() {
        var random = SystemRandomNumberGenerator()
        let policy = RetryPolicy(maxAttempts: 8, initialBackoff: .seconds(2), maxBackoff: .seconds(60))
        for attempt in 1...10 {
            let delay = Backoff.delay(attempt: attempt, policy: policy, using: &random)
            let step = min(60.0, 2.0 * pow(2, Double(attempt - 1)))
            let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
            #expect(seconds >= step / 2 - 0.001 && seconds <= step + 0.001)
        }
    }

    @Test func plainArraysAndBadInputForTheDryRun() throws {
        let pipeline = try #require(Self.shipped.pipeline(named: "xero-items"))
        let run = try DryRun(pipeline: pipeline, input: Data(#"[{"id":"x","name":"Thing","item_code":"T-1"}]"#.utf8))
        #expect(run.batch.rows.first?.values["sku"] == .text("T-1"))
        #expect(throws: DryRun.InputError.self) { try DryRun(pipeline: pipeline, input: Data("{\"nope\": 1}".utf8)) }
        #expect(throws: DryRun.InputError.self) { try DryRun(pipeline: pipeline, input: Data("not json".utf8)) }
    }
}
