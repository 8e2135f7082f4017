import Foundation
import MarketplaceCore
import Testing

@testable import NangoEmulator

@Suite struct RecordStreamTests {
    func stream(_ count: Int, seed: UInt64 = 42) -> RecordStream {
        RecordStream(
            connectionKey: "quickbooks/c1", sync: RecordShapes.quickbooks.syncs[0], seed: seed, initialCount: count,
            initialStart: Timestamp(micros: 1_780_000_000_000_000))
    }

    @Test func timestampsAndCursorsRoundTripLikeNangos() throws {
        let time = Timestamp(micros: 1_780_000_000_123_400)
        #expect(time.postgres.hasSuffix(".1234+00:00"))
        #expect(Timestamp(parsing: time.postgres) == time)
        #expect(Timestamp(parsing: "2024-03-04T06:59:51.471441-05:00")?.postgres == "2024-03-04T11:59:51.471441+00:00")
        #expect(Timestamp(parsing: "2026-05-01T10:00:00.000Z") != nil)
        #expect(Timestamp(parsing: "yesterday") == nil)
        let position = StreamPosition(updated: time, uuid: "15ccc805-64d5-4940-a7e0-45fc704997a1")
        let decoded = String(decoding: try #require(Data(base64Encoded: position.cursor)), as: UTF8.self)
        #expect(decoded == "\(time.postgres)||15ccc805-64d5-4940-a7e0-45fc704997a1")
        #expect(StreamPosition(cursor: position.cursor) == position)
        #expect(StreamPosition(cursor: "bm90IGEgY3Vyc29y") == nil)
    }

    @Test func pagesCoverTheStreamOnceInOrderAcrossTies() {
        let records = stream(100)
        var seen: [String] = []
        var after: StreamPosition?
        while true {
            let page = records.page(.init(after: after, modifiedAfter: nil, limit: 7, actions: nil, ids: nil))
            seen += page.prefix(7).map(\.id)
            guard page.count > 7 else { break }
            after = page[6].position
        }
        #expect(seen.count == 100 && Set(seen).count == 100)
        let positions = records.page(.init(after: nil, modifiedAfter: nil, limit: 1000, actions: nil, ids: nil)).map(\.position)
        #expect(positions == positions.sorted())
        #expect(Set(positions.map(\.updated)).count == 34, "records share timestamps in threes")
    }

    @Test func recordsAreRepeatableFromTheSeed() {
        #expect(stream(10).payload(stream(10).initial(3)) == stream(10).payload(stream(10).initial(3)))
        #expect(stream(10).payload(stream(10).initial(3)) != stream(10, seed: 7).payload(stream(10, seed: 7).initial(3)))
    }

    @Test func changesFollowTheInitialRecordsWithNangosActions() {
        var records = stream(20)
        var clock = Timestamp(micros: 0)
        var generator = SeededGenerator(seed: 1, "test")
        let counts = records.apply(add: 2, update: 3, delete: 1, clock: &clock, generator: &generator)
        #expect(counts == .init(added: 2, updated: 3, deleted: 1))
        let all = records.page(.init(after: nil, modifiedAfter: nil, limit: 100, actions: nil, ids: nil))
        #expect(all.count == 22)
        #expect(all.suffix(6).map(\.action).sorted { $0.rawValue < $1.rawValue } == [.added, .added, .deleted, .updated, .updated, .updated])
        let deleted = records.page(.init(after: nil, modifiedAfter: nil, limit: 100, actions: [.deleted], ids: nil))
        #expect(deleted.count == 1 && deleted[0].deletedAt == deleted[0].updated && !deleted[0].fields.isEmpty)
        let byID = records.page(.init(after: nil, modifiedAfter: nil, limit: 100, actions: nil, ids: ["1", "21"]))
        #expect(Set(byID.map(\.id)) == ["1", "21"])
    }

    @Test func largeStreamsPageWithoutMaterialising() {
        let records = stream(1_000_000)
        let last = records.initial(999_999)
        let tail = records.page(.init(after: records.initial(999_990).position, modifiedAfter: nil, limit: 100, actions: nil, ids: nil))
        #expect(tail.contains { $0.id == last.id })
        #expect(tail.count <= 12)
    }
}
