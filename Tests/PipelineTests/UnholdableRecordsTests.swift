import Foundation
import MarketplaceCore
import Nango
import Storage
import Testing

@testable import Pipeline

/// Records Nango pruned, and records Postgres cannot hold: neither may blank a row nor stall a page.
@Suite struct UnholdableRecordsTests {
    static let pipeline = RecordProcessorTests.shipped.pipeline(named: "xero-contacts")!

    static func page(_ records: [String]) -> [UInt8] {
        Array(#"{"records":["#.utf8) + Array(records.joined(separator: ",").utf8) + Array(#"],"next_cursor":null}"#.utf8)
    }

    static func record(_ id: String, _ fields: String, pruned: Bool = false, cursor: String? = nil) -> String {
        let prunedAt = pruned ? #""2026-04-01T00:00:00.000+00:00""# : "null"
        return #"{"id":"\#(id)"\#(fields.isEmpty ? "" : ",")\#(fields),"_nango_metadata":{"first_seen_at":"2026-01-01T00:00:00.000+00:00","last_modified_at":"2026-01-01T00:00:00.000+00:00","last_action":"UPDATED","deleted_at":null,"pruned_at":\#(prunedAt),"cursor":"\#(cursor ?? "c-" + id)"}}"#
    }

    @Test func aLoneSurrogateSetsAsideItsRecordNotThePage() throws {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(#"{"a":"x\ud800y"}"#.utf8)) }
        let marked = try JSONValue.parse(Array(#"{"a":"x\ud800y","b":"\udc00","c":"\ud83d\ude00","d":"\ud800\u0041"}"#.utf8), markingLoneSurrogates: true)
        let marker = String(JSONValue.loneSurrogateMarker)
        #expect(marked["a"]?.string == "x" + marker + "y")
        #expect(marked["b"]?.string == marker)
        #expect(marked["c"]?.string == "😀", "a valid pair is still decoded")
        #expect(marked["d"]?.string == marker + "A", "what follows a lone high half is kept")

        let bytes = Self.page([
            Self.record("1", #""name":"Ann""#),
            Self.record("2", #""name":"Bad \ud800 name""#),
            Self.record("3", #""name":"Cid""#),
        ])
        let parsed = try NangoRecordsPage.parse(bytes)
        try #require(parsed.records.count == 3)
        #expect(parsed.records.map(\.id) == ["1", "2", "3"])
        #expect(parsed.records.map { $0.decodingProblem != nil } == [false, true, false])
        #expect(parsed.records[1].metadata.cursor == "c-2")

        let batch = RecordProcessor(pipeline: Self.pipeline, versionTag: "t").process(parsed.records.map(SourceRecord.init))
        #expect(batch.rows.map(\.externalId).sorted() == ["1", "3"])
        try #require(batch.quarantined.count == 1)
        #expect(batch.quarantined[0].externalId == "2")
        #expect(batch.quarantined[0].reasons.first?.message.contains("lone surrogate") == true)
        #expect(!batch.quarantined[0].raw.utf8.contains(0))
    }

    @Test func aNULOrAnOutOfRangeNumberGoesToQuarantineInAFormPostgresAccepts() throws {
        let bytes = Self.page([
            Self.record("1", #""name":"Nul\u0000Name""#),
            Self.record("2", #""name":"Big","balance":1e400"#),
            Self.record("3", #""name":"Fine""#),
        ])
        let parsed = try NangoRecordsPage.parse(bytes)
        try #require(parsed.records.count == 3)
        let batch = RecordProcessor(pipeline: Self.pipeline, versionTag: "t").process(parsed.records.map(SourceRecord.init))
        #expect(batch.rows.map(\.externalId) == ["3"])
        try #require(batch.quarantined.count == 2)
        let byId = Dictionary(uniqueKeysWithValues: batch.quarantined.map { ($0.externalId ?? "", $0) })
        #expect(byId["1"]?.reasons.first?.message == "a string holds U+0000 (NUL), which Postgres cannot store")
        #expect(byId["1"]?.raw.contains(#"Nul\\u0000Name"#) == true, "the NUL written out as text")
        #expect(byId["1"]?.raw.utf8.contains(0) == false)
        #expect(byId["2"]?.reasons.first?.message == "a number is out of range")
    }

    @Test func aPrunedRecordIsNeitherARowNorAQuarantineEntry() throws {
        let bytes = Self.page([
            Self.record("1", "", pruned: true),
            Self.record("2", #""name":"Kept""#),
        ])
        let parsed = try NangoRecordsPage.parse(bytes)
        try #require(parsed.records.count == 2)
        #expect(parsed.records[0].isPruned)
        #expect(!parsed.records[1].isPruned)
        let batch = RecordProcessor(pipeline: Self.pipeline, versionTag: "t").process(parsed.records.map(SourceRecord.init))
        #expect(batch.pruned == ["1"])
        #expect(batch.rows.map(\.externalId) == ["2"])
        #expect(batch.quarantined.isEmpty, "an empty payload is not bad data")
        #expect(batch.deletions.isEmpty)
    }
}
