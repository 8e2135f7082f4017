import MarketplaceCore

/// One (connection, model) change stream, ordered by `(updated_at, uuid)` as Nango orders `GET /records`.
///
/// The initial records are never stored: record `i` is generated from the seed when a page needs it,
/// and records share timestamps in groups of three (as many do in Nango) so tie-breaking by uuid is
/// exercised. Changes (updates, deletes, additions) live in a small overlay that follows the initial
/// records in the stream. Memory stays flat however many records the stream has.
struct RecordStream: Sendable {
    struct Stored: Sendable {
        var index: Int
        var id: String
        var uuid: String
        var variant: Int
        var firstSeen: Timestamp
        var updated: Timestamp
        var deletedAt: Timestamp?
        /// The payload for deleted records (kept as last seen) and for changed ones.
        var fields: [String: JSONValue]

        var position: StreamPosition { StreamPosition(updated: updated, uuid: uuid) }
        var action: NangoAction { deletedAt != nil ? .deleted : firstSeen == updated ? .added : .updated }
    }

    enum NangoAction: String, Sendable { case added = "ADDED", updated = "UPDATED", deleted = "DELETED" }

    struct Query {
        var after: StreamPosition?
        var modifiedAfter: Timestamp?
        var limit: Int
        var actions: Set<NangoAction>?
        var ids: Set<String>?
    }

    static let groupSize = 3
    static let groupSpacingMicros: Int64 = 1_000

    let connectionKey: String
    let sync: Integration.Sync
    let seed: UInt64
    let initialCount: Int
    let initialStart: Timestamp
    private(set) var changed: [String: Stored] = [:]
    /// Overlay order; entries whose record has moved on since are skipped when read.
    private(set) var changeLog: [StreamPosition: String] = [:]
    private var changeOrder: [StreamPosition] = []
    private(set) var addedCount = 0
    private(set) var runs = 0
    /// Records whose payload Nango emptied (not updated for 30 days): served as `id` + metadata with `pruned_at`.
    private(set) var prunedAt: [String: Timestamp] = [:]
    /// Records removed outright (cache emptied, 60-day auto-delete): never served again, never as DELETED.
    private(set) var hardDeleted: Set<String> = []
    private var poisoned: Set<String> = []
    /// Nango's `record_counts` for the model: added minus deleted, soft or hard, floored at 0; pruning leaves it
    /// alone (docs/nango.md §2.12).
    private(set) var recordCount: Int
    /// The sync's latest job and schedule, for `GET /sync/status`. The initial records came from an initial run
    /// that ended when the connection was made.
    var run: SyncRun
    /// Late commits, newest last: records a change set added behind every record of the stream, as a transaction
    /// that commits after readers passed its rows' time leaves them. An entry whose record has changed since is
    /// skipped when read.
    private var late: [(position: StreamPosition, id: String)] = []
    /// The time the next late record takes: one microsecond before every record of the stream.
    private var lateFloor: Timestamp

    init(connectionKey: String, sync: Integration.Sync, seed: UInt64, initialCount: Int, initialStart: Timestamp) {
        self.connectionKey = connectionKey
        self.sync = sync
        self.seed = seed
        self.initialCount = initialCount
        self.initialStart = initialStart
        self.recordCount = initialCount
        self.run = SyncRun(finishedAt: .now, result: .init(added: initialCount))
        self.lateFloor = initialStart
    }

    /// The sync's id at Nango, a UUID stable for the connection and sync.
    var syncID: String {
        var generator = SeededGenerator(seed: seed, "sync", connectionKey, sync.name)
        return generator.uuid()
    }

    /// Late records still where their commit put them: what no incremental reader will ever see.
    var hiddenLateCount: Int {
        late.filter { changed[$0.id]?.position == $0.position && !hardDeleted.contains($0.id) }.count
    }

    var totalCount: Int { initialCount + addedCount }

    func uuid(for id: String) -> String {
        var generator = SeededGenerator(seed: seed, "uuid", connectionKey, sync.model, id)
        return generator.uuid()
    }

    func fields(index: Int, id: String, variant: Int) -> [String: JSONValue] {
        var generator = SeededGenerator(seed: seed, connectionKey, sync.model, String(index), String(variant))
        return sync.generate(&generator, index, id, variant)
    }

    func initial(_ index: Int) -> Stored {
        let id = sync.externalID(index)
        let time = Timestamp(micros: initialStart.micros + Int64(index / Self.groupSize) * Self.groupSpacingMicros)
        return Stored(index: index, id: id, uuid: uuid(for: id), variant: 0, firstSeen: time, updated: time, deletedAt: nil, fields: [:])
    }

    /// The record as it stands now (nil for an index never created).
    func current(_ index: Int) -> Stored? {
        guard index < totalCount else { return nil }
        let id = sync.externalID(index)
        if let changed = changed[id] { return changed }
        return index < initialCount ? initial(index) : nil
    }

    func payload(_ record: Stored) -> [String: JSONValue] {
        record.fields.isEmpty ? fields(index: record.index, id: record.id, variant: record.variant) : record.fields
    }

    /// Records strictly after `query.after`, modified at or after `query.modifiedAfter`, up to `limit + 1`
    /// (the extra one tells whether another page follows).
    func page(_ query: Query) -> [Stored] {
        var result: [Stored] = []
        let wanted = query.limit + 1
        func consider(_ record: Stored) -> Bool {
            if let after = query.after, record.position <= after { return true }
            if let modifiedAfter = query.modifiedAfter, record.updated < modifiedAfter { return true }
            if let actions = query.actions, !actions.contains(record.action) { return true }
            if let ids = query.ids, !ids.contains(record.id) { return true }
            if hardDeleted.contains(record.id) { return true }
            result.append(record)
            return result.count < wanted
        }
        // Late records come first in the stream: a cursor, always past them, skips them by position. A read by
        // `modified_after` is an incremental read too and skips them whatever its bound: a reader asking for what
        // changed since its last read would have missed them.
        if query.modifiedAfter == nil {
            for entry in late.reversed() {
                guard let record = changed[entry.id], record.position == entry.position else { continue }
                if !consider(record) { return result }
            }
        }
        // Initial records are all ADDED; skip them entirely when the filter excludes that.
        if query.actions?.contains(.added) ?? true {
            var group = 0
            for bound in [query.after?.updated, query.modifiedAfter].compactMap({ $0 }) where bound.micros > initialStart.micros {
                group = max(group, Int((bound.micros - initialStart.micros) / Self.groupSpacingMicros))
            }
            while group * Self.groupSize < initialCount {
                let members = (group * Self.groupSize..<min((group + 1) * Self.groupSize, initialCount))
                    .map(initial).filter { changed[$0.id] == nil }.sorted { $0.uuid < $1.uuid }
                for record in members where !consider(record) { return result }
                group += 1
            }
        }
        let start = query.after.map { after in changeOrder.partitionIndex { $0 <= after } } ?? 0
        for position in changeOrder[start...] {
            guard let id = changeLog[position], let record = changed[id], record.position == position else { continue }
            if !consider(record) { return result }
        }
        return result
    }

    // MARK: Changes

    struct ChangeCounts: Sendable, Equatable, Codable {
        var added = 0
        var updated = 0
        var deleted = 0
    }

    /// Applies a change set at `clock` times (each strictly later than the last) and returns what changed. The first
    /// `late` records it adds are late commits: placed behind every record of the stream, so only a read from no
    /// cursor finds them, though they count as added.
    mutating func apply(
        add: Int, update: Int, delete: Int, late lateCount: Int = 0, clock: inout Timestamp, generator: inout SeededGenerator
    ) -> ChangeCounts {
        var counts = ChangeCounts()
        func tick() -> Timestamp {
            clock = max(Timestamp.now, Timestamp(micros: clock.micros + 1))
            return clock
        }
        func live() -> Stored? {
            guard totalCount > 0 else { return nil }
            for _ in 0..<64 {
                if let record = current(Int(generator.next() % UInt64(totalCount))), record.deletedAt == nil { return record }
            }
            return nil
        }
        for _ in 0..<update {
            guard var record = live() else { break }
            record.variant += 1
            record.fields = fields(index: record.index, id: record.id, variant: record.variant)
            record.updated = tick()
            store(record)
            counts.updated += 1
        }
        for _ in 0..<delete {
            guard var record = live() else { break }
            record.fields = payload(record)
            let now = tick()
            record.updated = now
            record.deletedAt = now
            store(record)
            counts.deleted += 1
        }
        for number in 0..<add {
            let index = totalCount
            addedCount += 1
            let id = sync.externalID(index)
            if number < lateCount {
                lateFloor = Timestamp(micros: lateFloor.micros - 1)
                let record = Stored(index: index, id: id, uuid: uuid(for: id), variant: 0, firstSeen: lateFloor, updated: lateFloor,
                                    deletedAt: nil, fields: fields(index: index, id: id, variant: 0))
                changed[id] = record
                late.append((record.position, id))
            } else {
                let now = tick()
                store(Stored(index: index, id: id, uuid: uuid(for: id), variant: 0, firstSeen: now, updated: now, deletedAt: nil,
                             fields: fields(index: index, id: id, variant: 0)))
            }
            counts.added += 1
        }
        runs += 1
        recordCount = max(0, recordCount + counts.added - counts.deleted)
        // The run is the job Nango reports; its type follows the webhook's `syncType` (the first run is INITIAL).
        run.ended(at: max(Timestamp.now, clock), result: counts, incremental: runs > 1)
        return counts
    }

    /// Empties the payload of every live record last updated before `cutoff`, as Nango's pruning does.
    mutating func prune(olderThan cutoff: Timestamp, at now: Timestamp) -> Int {
        var count = 0
        for index in 0..<totalCount {
            guard let record = current(index), record.deletedAt == nil, record.updated < cutoff,
                  prunedAt[record.id] == nil, !hardDeleted.contains(record.id) else { continue }
            prunedAt[record.id] = now
            count += 1
        }
        return count
    }

    /// Removes records outright: `ids`, or `count` live ones picked by the generator.
    mutating func hardDelete(ids: [String]?, count: Int, generator: inout SeededGenerator) -> [String] {
        var removed: [String] = []
        if let ids {
            for id in ids where !hardDeleted.contains(id) && liveIds().contains(id) {
                hardDeleted.insert(id)
                removed.append(id)
            }
        } else {
            var live = liveIds()
            while removed.count < count, !live.isEmpty {
                let id = live.remove(at: Int(generator.next() % UInt64(live.count)))
                hardDeleted.insert(id)
                removed.append(id)
            }
        }
        // Nango's hard delete lowers `record_counts` by every row it removes (docs/nango.md §2.12); here only live
        // records are removed.
        recordCount = max(0, recordCount - removed.count)
        return removed
    }

    /// Rewrites one live record's `notes` as a change (it moves to the stream's end): data a provider can hold
    /// and Postgres cannot. Returns the record's id.
    mutating func poison(with value: JSONValue, clock: inout Timestamp) -> String? {
        guard let id = liveIds().first(where: { !poisoned.contains($0) }), let index = (0..<totalCount).first(where: { current($0)?.id == id }), var record = current(index) else {
            return nil
        }
        record.fields = payload(record).merging(["notes": value]) { $1 }
        clock = max(Timestamp.now, Timestamp(micros: clock.micros + 1))
        record.updated = clock
        store(record)
        poisoned.insert(id)
        return id
    }

    /// The ids Nango holds as live records now: what a complete copy must have, no more.
    func liveIds() -> [String] {
        (0..<totalCount).compactMap { current($0) }.filter { $0.deletedAt == nil && !hardDeleted.contains($0.id) }.map(\.id)
    }

    private mutating func store(_ record: Stored) {
        prunedAt[record.id] = nil   // a change brings the payload back
        changed[record.id] = record
        changeLog[record.position] = record.id
        changeOrder.append(record.position)
    }
}

extension Array {
    /// The first index whose element fails `belongsBefore` (the array is partitioned by it).
    func partitionIndex(where belongsBefore: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let middle = (low + high) / 2
            if belongsBefore(self[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
