import Foundation
import Logging
import NIOCore
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// `RETENTION_OUTBOUND_MESSAGES`: finished messages (and their attempts) older than it go, in batches; a message still
/// pending stays whatever its age, and so do recent ones.
@Suite struct OutboundRetentionTests {
    static let logger = TestEnvironment.logger

    @Test func finishedMessagesPastRetentionAreDeletedInBatches() async throws {
        try await TestDatabase.withClient { database in
            try await database.withConnection { db in
                let endpoint = try await WebhookEndpointsTable.create(
                    url: "https://93.184.216.34/h", description: nil, eventTypes: nil, companyId: nil, rateLimit: nil, secretSealed: [1, 2, 3],
                    on: db, logger: Self.logger)
                let statuses: [WebhookMessageStatus] = [.delivered, .delivered, .failed, .pending, .delivered]
                try await WebhookMessagesTable.insert(statuses.enumerated().map { index, status in
                    NewWebhookMessage(messageId: "msg_\(index)", endpointId: endpoint.id, eventType: "webhook.test", companyId: nil, stream: "test",
                                      body: "{}", status: status)
                }, on: db, logger: Self.logger)
                try await db.query("""
                    INSERT INTO webhook_attempts (message_id, status_code, latency_ms) SELECT id, 200, 1 FROM webhook_messages
                    """, logger: Self.logger)
                // All but the last are two days old.
                try await db.query("UPDATE webhook_messages SET created_at = now() - interval '2 days' WHERE message_id <> 'msg_4'", logger: Self.logger)
                let deleted = try await WebhookMessagesTable.deleteExpired(olderThan: .seconds(86_400), batch: 2, on: db, logger: Self.logger)
                #expect(deleted == 3)
                let left = try await db.query("SELECT message_id FROM webhook_messages ORDER BY message_id", logger: Self.logger).collect()
                #expect(try left.map { try $0.decode(String.self) } == ["msg_3", "msg_4"])
                let attempts = try await db.query("SELECT count(*)::int FROM webhook_attempts", logger: Self.logger).collect()
                #expect(try attempts.first?.decode(Int.self) == 2, "attempts go with their message")
            }
        }
    }
}
