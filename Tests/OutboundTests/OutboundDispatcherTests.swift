import Foundation
import Logging
import MarketplaceCore
import Metrics
import PostgresNIO
import Testing
import TestSupport

@testable import Outbound
@testable import Storage

/// The dispatcher against a real Postgres, at the interleavings its one transaction must survive.
@Suite(.timeLimit(.minutes(10))) struct OutboundDispatcherTests {
    static let logger = TestEnvironment.logger

    /// A round that has read its endpoints without one registered meanwhile must not pass over a change committed
    /// after that registration: the change is owed to the new endpoint, and a later round must send it there.
    @Test func anEndpointRegisteredWhileARoundWaitsIsOwedTheChangesCommittedAfterIt() async throws {
        try await TestDatabase.withClient { database in try await Self.registrationDuringARound(database) }
    }

    static func registrationDuringARound(_ database: Database) async throws {
        let dispatcher = OutboundDispatcher(
            database: database, cursorSecret: "dispatcher-test-secret-0123456789", retention: .seconds(86_400),
            metrics: NOOPMetricsHandler.instance, logger: logger)
        let (first, company) = try await database.withConnection { db in
            let first = try await Self.endpoint("first", on: db)
            let company = try #require(try await db.query(
                "INSERT INTO companies (connection_id, integration_id, provider, name) VALUES ('c1', 'hubspot', 'hubspot', 'Acme') RETURNING id",
                logger: logger).collect().first?.decode(UUID.self))
            try await Self.contact("before-registration", company: company, on: db)
            return (first, company)
        }
        try await eventually("the first endpoint has the first change") {
            _ = try await dispatcher.dispatchOnce()
            return try await Self.messages(to: first, carrying: "before-registration", database) == 1
        }

        // A write begins (its transaction id drawn before the round's), and a transaction holds the first endpoint's
        // row, so the next round stops where it reads the endpoints.
        let write = try await OpenTransaction.begin(database) { db in
            try await Self.contact("after-registration", company: company, on: db)
        }
        let holder = try await OpenTransaction.begin(database) { db in
            try await db.query("SELECT 1 FROM webhook_endpoints WHERE id = \(first) FOR UPDATE", logger: logger)
        }
        let round = Task { try await dispatcher.dispatchOnce() }
        try await eventually("the round waits for the endpoint's row") {
            try await database.query("""
                SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
                """, logger: logger).first?.decode(Int.self) == 1
        }
        // Meanwhile a second endpoint is registered, then the write commits: after the registration, so it is owed.
        let second = try await database.withConnection { db in try await Self.endpoint("second", on: db) }
        try await write.commit()
        try await holder.commit()
        _ = try await round.value

        try await eventually("the second endpoint has the change committed after its registration") {
            _ = try await dispatcher.dispatchOnce()
            return try await Self.messages(to: second, carrying: "after-registration", database) == 1
        }
        #expect(try await Self.messages(to: first, carrying: "after-registration", database) == 1)
        #expect(try await Self.messages(to: second, carrying: "before-registration", database) == 0, "committed before it was registered")
    }

    /// A stream's first message starts where the company's feed (filtered to the resource) stood before it: at the
    /// change written before any endpoint existed for one company, at the origin for another with none, and each
    /// stream's start found by one statement however many streams the round starts.
    @Test func aStreamsFirstMessageStartsAtItsFeedsEarlierChange() async throws {
        try await TestDatabase.withClient { database in
            let secret = "dispatcher-test-secret-0123456789"
            let dispatcher = OutboundDispatcher(
                database: database, cursorSecret: secret, retention: .seconds(86_400), metrics: NOOPMetricsHandler.instance, logger: Self.logger)
            let (older, newer) = try await database.withConnection { db in
                var ids: [UUID] = []
                for name in ["older", "newer"] {
                    ids.append(try #require(try await db.query(
                        "INSERT INTO companies (connection_id, integration_id, provider, name) VALUES (\(name), 'hubspot', 'hubspot', 'Acme') RETURNING id",
                        logger: Self.logger).collect().first?.decode(UUID.self)))
                }
                try await Self.contact("unannounced", company: ids[0], on: db)
                return (ids[0], ids[1])
            }
            // Nobody to tell: a round moves past the change without a message (once no transaction anywhere in the
            // cluster, another test's too, is older than it).
            try await eventually("the dispatcher has passed the unannounced change") {
                _ = try await dispatcher.dispatchOnce()
                return try await database.query("""
                    SELECT count(*)::int FROM outbound_dispatch d, changes c
                    WHERE c.data->>'external_id' = 'unannounced' AND (d.xid, d.seq) >= (c.xid, c.seq)
                    """, logger: Self.logger).first?.decode(Int.self) == 1
            }
            let endpoint = try await database.withConnection { db in try await Self.endpoint("late", on: db) }
            try await database.withConnection { db in
                try await Self.contact("announced-older", company: older, on: db)
                try await Self.contact("announced-newer", company: newer, on: db)
            }
            try await eventually("both companies' contacts are announced") {
                _ = try await dispatcher.dispatchOnce()
                let older = try await Self.messages(to: endpoint, carrying: "announced-older", database)
                let newer = try await Self.messages(to: endpoint, carrying: "announced-newer", database)
                return older == 1 && newer == 1
            }
            #expect(try await Self.messages(to: endpoint, carrying: "unannounced", database) == 0)
            let earlier = try #require(try await database.query("""
                SELECT xid::text, seq FROM changes WHERE company_id = \(older) AND resource = 'contacts' AND data->>'external_id' = 'unannounced'
                """, logger: Self.logger).first?.decode((String, Int64).self))
            let cursors = ChangeCursor(secret: secret)
            func cursorFrom(_ company: UUID) async throws -> String? {
                let body = try #require(try await database.query("""
                    SELECT body FROM webhook_messages WHERE endpoint_id = \(endpoint) AND company_id = \(company) AND event_type = 'contacts.changed'
                    """, logger: Self.logger).first?.decode(String.self))
                return try JSONValue.parse(Array(body.utf8))["data"]?["cursor_from"]?.string
            }
            #expect(try await cursorFrom(older) == cursors.encode(ChangePosition(xid: UInt64(earlier.0)!, seq: earlier.1), companyId: older))
            #expect(try await cursorFrom(newer) == cursors.encode(ChangePosition(xid: 0, seq: 0), companyId: newer))
        }
    }

    static func endpoint(_ name: String, on db: PostgresConnection) async throws -> UUID {
        try await WebhookEndpointsTable.create(
            url: "https://93.184.216.34/\(name)", description: nil, eventTypes: nil, companyId: nil, rateLimit: nil, secretSealed: [1, 2, 3],
            on: db, logger: logger).id
    }

    static func contact(_ externalId: String, company: UUID, on db: PostgresConnection) async throws {
        try await db.query("""
            INSERT INTO contacts (company_id, external_id, content_hash, display_name, raw) VALUES (\(company), \(externalId), 'h', 'A Name', '{}')
            """, logger: logger)
    }

    static func messages(to endpoint: UUID, carrying externalId: String, _ database: Database) async throws -> Int {
        try await database.query("""
            SELECT count(*)::int FROM webhook_messages WHERE endpoint_id = \(endpoint) AND body LIKE '%"' || \(externalId) || '"%'
            """, logger: logger).first?.decode(Int.self) ?? -1
    }
}

/// A transaction left open after `body` until ``commit()``.
struct OpenTransaction {
    let release: AsyncStream<Void>.Continuation
    let task: Task<Void, any Error>

    static func begin(_ database: Database, _ body: @escaping @Sendable (PostgresConnection) async throws -> Void) async throws -> OpenTransaction {
        let (started, start) = AsyncStream.makeStream(of: Void.self)
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        let task = Task {
            defer { start.finish() }
            try await database.withTransaction(logger: TestEnvironment.logger) { db in
                try await body(db)
                start.yield()
                for await _ in released { return }
            }
        }
        for await _ in started { break }
        return OpenTransaction(release: release, task: task)
    }

    func commit() async throws {
        release.yield()
        try await task.value
    }
}
