import Foundation
import Logging
import Metrics
import PostgresNIO
import Testing
import TestSupport

@testable import Outbound
@testable import Storage

/// The dispatcher against a real Postgres, at the interleavings its one transaction must survive.
@Suite(.timeLimit(.minutes(3))) struct OutboundDispatcherTests {
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
