import Foundation
import Logging
import MarketplaceCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// The change log's guarantees, each driven deterministically: transactions are held open on connections of their own
/// and stepped one statement at a time, so no interleaving depends on timing.
///
/// The feed trails the oldest transaction running in its own database (`change_log_bound()`, migration 0029): other
/// suites, each in a database of its own, hold none of these feeds back, and these hold none of theirs.
@Suite(.timeLimit(.minutes(10))) struct ChangeLogTests {
    static let logger = TestEnvironment.logger

    static func company(_ db: PostgresConnection, _ connection: String = "c1") async throws -> UUID {
        let rows = try await db.query(
            "INSERT INTO companies (connection_id, integration_id, provider, name) VALUES (\(connection), 'hubspot', 'hubspot', 'Acme') RETURNING id",
            logger: logger).collect()
        return try #require(try rows.first?.decode(UUID.self))
    }

    static func insertContact(_ db: PostgresConnection, _ company: UUID, _ externalId: String, name: String) async throws {
        try await db.query("""
            INSERT INTO contacts (company_id, external_id, content_hash, display_name, raw)
            VALUES (\(company), \(externalId), \(name), \(name), '{}')
            """, logger: logger)
    }

    static func rename(_ db: PostgresConnection, _ company: UUID, _ externalId: String, to name: String) async throws {
        try await db.query("""
            UPDATE contacts SET display_name = \(name), content_hash = \(name), updated_at = now()
            WHERE company_id = \(company) AND external_id = \(externalId)
            """, logger: logger)
    }

    /// Follows a feed from `after` until it has read `count` changes (a transaction of another suite running beside
    /// this one may hold the feed back a moment), then until a read returns nothing new; the changes in the order read.
    static func follow(_ db: PostgresConnection, companyId: UUID?, from after: ChangePosition, count: Int = 0, limit: Int = 2)
        async throws -> (changes: [ChangeRecord], end: ChangePosition) {
        var position = after
        var changes: [ChangeRecord] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            let read = try await ChangesTable.read(companyId: companyId, after: position, resources: nil, limit: limit, on: db, logger: logger)
            changes += read.changes
            #expect(read.end >= position, "a cursor never moves back")
            position = read.end
            if read.hasMore { continue }
            if changes.count >= count { return (changes, position) }
            guard ContinuousClock.now < deadline else {
                Issue.record("read \(changes.count) of \(count) changes")
                return (changes, position)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The xid of the transaction open on `db`, assigned now if it had none.
    static func transactionId(_ db: PostgresConnection) async throws -> UInt64 {
        let rows = try await db.query("SELECT pg_current_xact_id()::text", logger: logger).collect()
        return try #require(try rows.first.flatMap { UInt64(try $0.decode(String.self)) })
    }

    static func names(_ changes: [ChangeRecord]) throws -> [String] {
        try changes.map { change in
            let data = try JSONValue.parse(Array(change.data.utf8))
            return "\(change.externalId ?? "-"):\(change.kind.rawValue):\(data["display_name"]?.string ?? "-")"
        }
    }

    /// A transaction that began (and took its id) first writes its change last, after a later one committed and a
    /// follower read past that later one: the follower still gets it. Read only below the oldest running transaction,
    /// the first read cannot pass the held transaction's position.
    @Test func aChangeCommittedLateIsNotSkipped() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                let company = try await Self.company(db)
                let start = try await Self.follow(db, companyId: company, from: .origin, count: 1).end
                try await database.withConnection { late in
                    try await late.query("BEGIN", logger: Self.logger)
                    _ = try await Self.transactionId(late)
                    try await Self.insertContact(db, company, "early", name: "Early")   // commits (autocommit)
                    let between = try await Self.follow(db, companyId: company, from: start)   // sees at most "early"
                    try await Self.insertContact(late, company, "late", name: "Late")
                    try await late.query("COMMIT", logger: Self.logger)
                    let after = try await Self.follow(db, companyId: company, from: between.end, count: 2 - between.changes.count)
                    let seen = try Self.names(between.changes + after.changes)
                    #expect(seen.sorted() == ["early:created:Early", "late:created:Late"])
                    // The global feed is bound the same way.
                    #expect(try Self.names(try await Self.follow(db, companyId: nil, from: start, count: 2).changes).sorted() == seen.sorted())
                }
            }
        }
    }

    /// One row written by a transaction that took its id first, after a later transaction changed the row and
    /// committed: the feed gives the row's changes in commit order, with growing versions.
    @Test func oneRowsChangesComeInCommitOrder() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                let company = try await Self.company(db)
                try await Self.insertContact(db, company, "r", name: "A")
                try await database.withConnection { older in
                    try await older.query("BEGIN", logger: Self.logger)
                    _ = try await Self.transactionId(older)
                    try await Self.rename(db, company, "r", to: "B")           // a younger transaction, committed
                    try await Self.rename(older, company, "r", to: "C")        // the older one writes the row after it
                    try await older.query("COMMIT", logger: Self.logger)
                }
                let changes = try await Self.follow(db, companyId: company, from: .origin, count: 4).changes
                #expect(try Self.names(changes.filter { $0.resource == .contacts }) == ["r:created:A", "r:updated:B", "r:updated:C"])
                let versions = changes.filter { $0.resource == .contacts }.map(\.position.seq)
                #expect(versions == versions.sorted() && Set(versions).count == 3)
            }
        }
    }

    /// A transaction of another database, open (on `other`, with xid `held`) since before a contact was written in
    /// this one (`database`, `db`): `body` gets them with the changes followed since the origin (the company's and the
    /// contact's), and may commit the other transaction.
    static func besideATransactionElsewhere(
        _ body: @Sendable (_ other: PostgresConnection, _ held: UInt64, _ database: Database, _ db: PostgresConnection,
                           _ company: UUID, _ changes: [ChangeRecord]) async throws -> Void
    ) async throws {
        try await TestDatabase.withClient(migrated: false) { elsewhere in
            try await elsewhere.withConnection { other in
                try await other.query("BEGIN", logger: Self.logger)
                let held = try await Self.transactionId(other)
                try await TestDatabase.withClient { database in
                    try await database.withConnection { db in
                        let company = try await Self.company(db)
                        try await Self.insertContact(db, company, "x", name: "X")
                        let changes = try await Self.follow(db, companyId: company, from: .origin, count: 2).changes
                        try await body(other, held, database, db, company, changes)
                    }
                }
            }
        }
    }

    /// A transaction of another database that took its xid first and stays open does not hold this database's feed
    /// back: it can never write a change here. Under the old bound (the oldest transaction running in the whole
    /// cluster) the follow read nothing until the other transaction ended, and ran out of time.
    @Test func aTransactionInAnotherDatabaseHoldsNothingBack() async throws {
        try await Self.besideATransactionElsewhere { other, held, _, db, _, changes in
            let contacts = changes.filter { $0.resource == .contacts }
            #expect(try Self.names(contacts) == ["x:created:X"])
            #expect(contacts.allSatisfy { $0.position.xid > held }, "written after the other transaction took its xid")
            #expect(try await ChangesTable.head(on: db, logger: Self.logger) >= (contacts.last?.position ?? .origin))
            try await other.query("COMMIT", logger: Self.logger)
        }
    }

    /// The interleaving CI met: a transaction of another database, older than a change here, ends between the moment a
    /// statement takes its snapshot and the moment it reads who is running. No longer seen, it holds that statement's
    /// bound below the change; the statement says its holder had ended, and a new statement reads past it. A
    /// `REPEATABLE READ` reader keeps the snapshot it took while the other transaction ran, so the interleaving is
    /// stepped, not raced. (Other suites' transactions may end in such a moment too: a bound they hold also says so.)
    @Test func aBoundHeldByATransactionThatHadEndedSaysSo() async throws {
        try await Self.besideATransactionElsewhere { other, held, database, db, company, changes in
            let contact = try #require(changes.last { $0.resource == .contacts })
            #expect(contact.position.xid > held, "written after the other transaction took its xid")
            try await database.withConnection { reader in
                try await reader.query("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: Self.logger)
                let running = try await ChangeLogBound.take(on: reader, logger: Self.logger)
                #expect(running.ended || running.xid > contact.position.xid, "seen running in another database: left out")
                try await other.query("COMMIT", logger: Self.logger)
                let ended = try await ChangeLogBound.take(on: reader, logger: Self.logger)
                #expect(ended.xid <= held, "no longer seen: it holds the same snapshot's bound back")
                #expect(ended.ended, "and the bound says its holder had ended")
                let pinned = try await ChangesTable.head(on: reader, logger: Self.logger)
                #expect(pinned < contact.position, "taken again on the same snapshot, the bound errs low and the retakes stop")
                let read = try await ChangesTable.read(companyId: company, after: .origin, resources: nil, limit: 10, on: reader, logger: Self.logger)
                #expect(read.changes.allSatisfy { $0.resource != .contacts } && read.end < contact.position)
                try await reader.query("COMMIT", logger: Self.logger)
            }
            let fresh = try await ChangeLogBound.take(on: db, logger: Self.logger)
            #expect(fresh.ended || fresh.xid > contact.position.xid, "a new snapshot no longer lists it")
            #expect(try await ChangesTable.head(on: db, logger: Self.logger) > contact.position)
        }
    }

    /// What the change feed's listener asks each tick: the companies whose changes became readable since an earlier
    /// bound. A change committed beside an older transaction of this database becomes readable only when that one
    /// ends, though the older one writes no change (so no notification tells of it).
    @Test func theCompaniesWhoseChangesBecameReadableAreNamedOnce() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                let company = try await Self.company(db)
                _ = try await Self.follow(db, companyId: company, from: .origin, count: 1)
                let start = try await ChangesTable.readable(since: nil, on: db, logger: Self.logger)
                #expect(start.companies.isEmpty, "the bound alone")
                try await database.withConnection { older in
                    try await older.query("BEGIN", logger: Self.logger)
                    let olderXid = try await Self.transactionId(older)
                    try await Self.insertContact(db, company, "beside", name: "Beside")
                    let held = try await ChangesTable.readable(since: start.bound, on: db, logger: Self.logger)
                    #expect(held.companies.isEmpty, "not readable while the older transaction runs")
                    #expect(held.bound <= olderXid)
                    try await older.query("COMMIT", logger: Self.logger)
                    let readable = try await ChangesTable.readable(since: max(start.bound, held.bound), on: db, logger: Self.logger)
                    #expect(readable.companies == [company])
                    let again = try await ChangesTable.readable(since: readable.bound, on: db, logger: Self.logger)
                    #expect(again.companies.isEmpty, "named once")
                }
            }
        }
    }

    /// A reader inside a transaction that wrote a change itself does not read past it before it commits: the reader's
    /// own xid is never in its snapshot's list of running transactions, so the bound takes it in by name.
    @Test func aReaderNeverPassesItsOwnUncommittedChange() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                let company = try await Self.company(db)
                let start = try await Self.follow(db, companyId: company, from: .origin, count: 1).end
                try await db.query("BEGIN", logger: Self.logger)
                try await Self.insertContact(db, company, "mine", name: "Mine")
                let xid = try await Self.transactionId(db)
                // A later transaction ends first, so the snapshot's horizon (`xmax`) lies past the reader's own xid.
                try await database.query("SELECT pg_current_xact_id()", logger: Self.logger)
                let inside = try await ChangesTable.read(companyId: company, after: start, resources: nil, limit: 10, on: db, logger: Self.logger)
                let read = try Self.names(inside.changes)
                #expect(read.isEmpty, "its own change, not committed yet: \(read)")
                #expect(inside.end < ChangePosition(xid: xid, seq: 0), "the read stops below its own transaction")
                #expect(try await ChangesTable.head(on: db, logger: Self.logger) < ChangePosition(xid: xid, seq: 0))
                try await db.query("COMMIT", logger: Self.logger)
                #expect(try Self.names(try await Self.follow(db, companyId: company, from: inside.end, count: 1).changes) == ["mine:created:Mine"])
            }
        }
    }

    /// Writes that change nothing a client sees write no change; a rolled-back write writes none; a delete gives the
    /// row's last state with `deleted_at` set.
    @Test func onlyCommittedVisibleChangesAreRecorded() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                let company = try await Self.company(db)
                try await Self.insertContact(db, company, "x", name: "X")
                let start = try await Self.follow(db, companyId: company, from: .origin, count: 2).end
                // Bookkeeping: the same content again, a touched updated_at, the company's last sync time and source time.
                try await db.query("UPDATE contacts SET updated_at = now() + interval '1 minute' WHERE external_id = 'x'", logger: Self.logger)
                try await db.query("UPDATE companies SET last_synced_at = now(), source_updated_at = now(), updated_at = now() WHERE id = \(company)", logger: Self.logger)
                try await db.query("UPDATE companies SET token_generation = token_generation + 1 WHERE id = \(company)", logger: Self.logger)
                // A write that never committed.
                try await db.query("BEGIN", logger: Self.logger)
                try await Self.rename(db, company, "x", to: "Never")
                try await db.query("ROLLBACK", logger: Self.logger)
                #expect(try await Self.follow(db, companyId: company, from: start).changes.isEmpty)

                try await db.query("UPDATE companies SET status = 'disconnected', status_reason = 'test' WHERE id = \(company)", logger: Self.logger)
                try await db.query("UPDATE contacts SET deleted_at = '2026-12-01T00:00:00Z' WHERE external_id = 'x'", logger: Self.logger)
                try await db.query("UPDATE contacts SET updated_at = now() WHERE external_id = 'x'", logger: Self.logger)   // still deleted
                let changes = try await Self.follow(db, companyId: company, from: start, count: 2).changes
                try #require(changes.count == 2)
                #expect(changes[0].resource == .companies && changes[0].kind == .updated)
                #expect(try JSONValue.parse(Array(changes[0].data.utf8))["status"]?.string == "disconnected")
                #expect(changes[1].resource == .contacts && changes[1].kind == .deleted)
                let deleted = try JSONValue.parse(Array(changes[1].data.utf8))
                #expect(deleted["display_name"]?.string == "X")
                #expect(deleted["deleted_at"]?.string?.hasPrefix("2026-12-01") == true)
                #expect(deleted["change_xid"] == nil && deleted["content_hash"] == nil && deleted["raw"] == nil)
            }
        }
    }

    /// A change's `data` is the row exactly as the list endpoint renders it.
    @Test func aChangesDataIsTheListsRow() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                let company = try await Self.company(db)
                try await Self.insertContact(db, company, "y", name: "Y")
                let change = try #require(try await Self.follow(db, companyId: company, from: .origin, count: 2).changes.last)
                let page = try await ResourceReadTable.page(.init(
                    table: .contacts, companyId: company, sort: .updatedAt, descending: false, after: nil, updatedSince: nil, search: nil,
                    includeDeleted: true, includeRaw: false, limit: 10), on: db, logger: Self.logger)
                try #require(page.count == 1)
                #expect(try JSONValue.parse(Array(change.data.utf8)) == JSONValue.parse(Array(page[0].json.utf8)))
            }
        }
    }

    /// Retention deletes in batches and moves the horizon past what it deleted; a reader behind it is told so.
    @Test func retentionDeletesOldChangesInBatchesAndMovesTheHorizon() async throws {
        try await TestDatabase.withClient { database in
            let (company, start) = try await database.withConnection { db in
                let company = try await Self.company(db)
                let start = try await Self.follow(db, companyId: company, from: .origin, count: 1).end
                for index in 0..<5 { try await Self.insertContact(db, company, "old\(index)", name: "Old") }
                try await db.query("UPDATE changes SET occurred_at = now() - interval '2 days'", logger: Self.logger)
                try await Self.insertContact(db, company, "new", name: "New")
                return (company, start)
            }
            let deleted = try await ChangesTable.deleteExpired(olderThan: .seconds(86_400), batch: 2, database: database, logger: Self.logger)
            #expect(deleted == 6)   // five contacts and the company's own insert
            try await database.withConnection { db in
                let horizon = try await ChangesTable.horizon(on: db, logger: Self.logger)
                #expect(start < horizon)
                let left = try await Self.follow(db, companyId: company, from: horizon, count: 1).changes
                #expect(try Self.names(left) == ["new:created:New"])
            }
        }
    }
}

extension ChangePosition {
    /// Before every change.
    static let origin = ChangePosition(xid: 0, seq: 0)
}
