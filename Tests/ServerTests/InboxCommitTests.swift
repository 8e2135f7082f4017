import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MarketplaceCore
import NIOCore
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Server

/// A webhook is answered 200 only once its commit is known to have held. The one-statement inbox batch commits at the
/// Sync that follows its statement, after its rows have come back; a commit that fails there must not have been
/// answered "stored", and Nango's retry (sent because no 200 came) must store the event.
@Suite(.timeLimit(.minutes(10))) struct InboxCommitTests {
    static let logger = TestEnvironment.logger

    /// A test-only deferred check on the inbox that refuses the first commit inserting an event (a sequence counts
    /// the tries: its values survive the rollback), as a deferred foreign key or a failed WAL flush would.
    static let failFirstCommit = [
        "CREATE SEQUENCE test_inbox_commits",
        """
        CREATE FUNCTION test_refuse_first_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF nextval('test_inbox_commits') = 1 THEN RAISE EXCEPTION 'test: the commit is refused'; END IF;
            RETURN NULL;
        END $$
        """,
        """
        CREATE CONSTRAINT TRIGGER test_refuse_first_commit AFTER INSERT ON webhook_events
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_first_commit()
        """,
    ]

    @Test func aBatchWhoseCommitFailsIsNotAnsweredStoredAndTheRetryStoresIt() async throws {
        try await TestDatabase.with { database in
            try await Database.running(database) { client in
                _ = try await Migrator(migrations: try Migration.bundled()).migrate(client, logger: Self.logger)
                for statement in Self.failFirstCommit { try await client.query(PostgresQuery(unsafeSQL: statement), logger: Self.logger) }
                let app = buildApplication(try await TestApp.dependencies([:], database: database), port: 0, migrateOnStart: false, backgroundJobs: false)
                try await app.test(.router) { api in
                    let body = WebhookTests.syncBody
                    let first = try await api.execute(uri: "/webhooks/nango", method: .post, headers: WebhookTests.headers(body), body: ByteBuffer(string: body))
                    #expect(first.status == .serviceUnavailable, "the commit failed: no 200 may have been answered")
                    let stored: @Sendable () async throws -> Int = {
                        try await client.query("SELECT count(*)::int FROM webhook_events", logger: Self.logger)[0].decode(Int.self)
                    }
                    #expect(try await stored() == 0)
                    let retry = try await api.execute(uri: "/webhooks/nango", method: .post, headers: WebhookTests.headers(body), body: ByteBuffer(string: body))
                    #expect(retry.status == .ok)
                    #expect(try await stored() == 1)
                    let commits = try await client.query("SELECT last_value::int FROM test_inbox_commits", logger: Self.logger)[0].decode(Int.self)
                    #expect(commits == 2, "both deliveries reached the commit")
                }
            }
        }
    }
}
