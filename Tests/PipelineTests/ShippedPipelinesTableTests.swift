import Foundation
import MarketplaceCore
import Storage
import Testing

@testable import Pipeline

/// The shipped pipelines, one provider record each, and the row it must become, written out by hand: a
/// change to a mapping, a normalizer or a validator that alters what lands fails here, whatever the sync
/// tests (which compare the database with the processor's own output) say.
@Suite struct ShippedPipelinesTableTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let pipeline: String
        let record: [String: JSONValue]
        let expected: [String: String]
        var testDescription: String { pipeline }
    }

    static let modified = "2026-05-05T10:00:00Z"

    static let cases: [Case] = [
        Case(pipeline: "quickbooks-items", record: [
            "id": "I-7", "name": "Rock Fountain", "description": "Rock fountain with pump", "type": "Inventory", "unitPrice": 275,
            "purchaseCost": 125.5, "qtyOnHand": 2, "taxable": true, "active": true,
            "createdAt": "2025-01-02T03:04:05Z",
        ], expected: [
            "external_id": "I-7", "name": "Rock Fountain", "description": "Rock fountain with pump", "kind": "Inventory",
            // QuickBooks items carry no currency: the pipeline's default applies.
            "unit_price": "275", "currency": "USD", "unit_cost": "125.5", "quantity_on_hand": "2", "taxable": "true", "is_active": "true",
            "created_at": "2025-01-02T03:04:05.000000Z",
        ]),
        Case(pipeline: "xero-contacts", record: [
            "id": "X-1", "name": "Bayside Club", "email": " Info@Bayside.Example ", "phone": "030 1234567",
            "address_line_1": "Alexanderplatz 1", "address_line_2": "Hof 2", "city": "Berlin", "state": "BE", "zip": "10178",
            "country": "Germany",
        ], expected: [
            "external_id": "X-1", "display_name": "Bayside Club", "organization": "Bayside Club", "email": "Info@bayside.example",   // trimmed; only the domain is case-insensitive
            "phone": "+49301234567", "address.line1": "Alexanderplatz 1", "address.line2": "Hof 2", "address.city": "Berlin",
            "address.region": "BE", "address.postal_code": "10178", "address.country": "DE",
        ]),
        Case(pipeline: "salesforce-account-profile", record: [
            "id": "001A", "name": "Edge Communications", "phone": "(512) 757-6000", "website": "http://edgecomm.example",
            "billingCity": "Austin", "billingState": "TX", "billingCountry": "USA", "createdDate": "2024-06-01T12:00:00Z",
        ], expected: [
            "external_id": "001A", "name": "Edge Communications", "phone": "+15127576000", "website": "http://edgecomm.example",
            "address.city": "Austin", "address.region": "TX", "address.country": "US", "created_at": "2024-06-01T12:00:00.000000Z",
        ]),
        Case(pipeline: "salesforce-accounts", record: [
            "id": "001B", "name": "Burlington Textiles", "phone": "+44 20 7946 0958", "billingCity": "London", "billingState": "",
            "billingCountry": "United Kingdom", "createdDate": "2024-07-01T08:30:00Z",
        ], expected: [
            "external_id": "001B", "name": "Burlington Textiles", "kind": "billing", "phone": "+442079460958", "address.city": "London",
            "address.country": "GB", "created_at": "2024-07-01T08:30:00.000000Z",
        ]),
    ]

    @Test(arguments: cases)
    func aRecordBecomesTheRowWrittenHere(_ example: Case) throws {
        let set = try PipelineLoader.load(path: PipelineLoaderTests.repositoryFile)
        let pipeline = try #require(set.pipeline(named: example.pipeline))
        let batch = RecordProcessor(pipeline: pipeline, versionTag: "t").process([
            SourceRecord(fields: example.record, action: .added, lastModifiedAt: Timestamps.parse(Self.modified), cursor: "c1"),
        ])
        #expect(batch.quarantined.map(\.reasons) == [])
        #expect(batch.rows.count == 1)
        let row = try #require(batch.rows.first)
        #expect(row.values.mapValues(\.databaseText) == example.expected)
        #expect(row.sourceUpdatedAt == Timestamps.parse(Self.modified))
    }
}
