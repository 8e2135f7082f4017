import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

@testable import Storage

/// `WebhookMessagesTable.claimDue` against a real Postgres: which messages a claim may take, and that claims take the
/// streams in turn.
@Suite(.timeLimit(.minutes(10))) struct MessageClaimTests {
    static let logger = TestEnvironment.logger

    @Test func aClaimTakesEachStreamsHeadAndTheNextClaimGoesOnFromWhereItStopped() async throws {
        try await TestDatabase.withClient { database in try await Self.headsInTurn(database) }
    }

    @Test func aClaimTakesAChainBehindEachHeadWholeFromTheHeadAndHeadsFirst() async throws {
        try await TestDatabase.withClient { database in try await Self.chains(database) }
    }

    /// The claim's plan on a backlog like the bench's (10,000 pending messages over 64 streams): it finds its messages
    /// stream by stream, never by walking every pending message in due order (41 ms a claim, against 1.8 ms).
    @Test func aClaimOnABacklogWalksTheStreamsNotEveryPendingMessage() async throws {
        try await TestDatabase.withClient { database in
            let endpoint = try await database.withConnection { db in try await OutboundDispatcherTests.endpoint("backlog", on: db) }
            try await database.query("""
                INSERT INTO webhook_messages (message_id, endpoint_id, event_type, stream, body)
                SELECT 'msg_backlog_' || n, \(endpoint), 'contacts.changed', 's' || (n % 64), '{}' FROM generate_series(1, 10000) AS n
                """, logger: Self.logger)
            try await database.query("ANALYZE webhook_messages", logger: Self.logger)
            let query = WebhookMessagesTable.claimQuery(
                owner: "plan-test", lease: .seconds(60), held: [:], maxHeld: 256, after: nil, limit: 256, chain: 16, chains: [:])
            let plan = try await database.withTransaction(logger: Self.logger) { db in
                try await db.query(WebhookMessagesTable.claimSettings, logger: Self.logger)
                let rows = try await db.query(PostgresQuery(unsafeSQL: "EXPLAIN " + query.sql, binds: query.binds), logger: Self.logger)
                var lines: [String] = []
                for try await line in rows.decode(String.self) { lines.append(line) }
                return lines.joined(separator: "\n")
            }
            #expect(plan.contains("webhook_messages_stream_idx"), "the walk goes stream by stream:\n\(plan)")
            #expect(!plan.contains("webhook_messages_due_idx"), "no scan of every pending message by due time:\n\(plan)")
        }
    }

    static func chains(_ database: Database) async throws {
        let endpoint = try await database.withConnection { db in
            try await OutboundDispatcherTests.endpoint("chains", on: db)
        }
        // Stream a has four messages, b two: ids in this order.
        let ids = try await Self.insert(["a", "a", "b", "a", "b", "a"], endpoint: endpoint, database)
        #expect(ids.count == 6)
        let (a1, a2, b1, a3, b2, a4) = (ids[0], ids[1], ids[2], ids[3], ids[4], ids[5])

        func claim(maxHeld: Int = 10, chain: Int = 3, chains: [UUID: Int] = [:]) async throws -> [(id: Int64, after: Int64?)] {
            let (claimed, _) = try await WebhookMessagesTable.claimDue(
                owner: "chain-test", lease: .seconds(60), held: [:], maxHeld: maxHeld, after: nil, limit: 10, chain: chain,
                chains: chains, database: database, logger: logger)
            return claimed.map { ($0.id, $0.after) }
        }
        func reset() async throws {
            try await database.query("""
                UPDATE webhook_messages SET lease_owner = NULL, lease_expires_at = NULL, attempts = 0, next_attempt_at = now() - interval '1 second'
                WHERE endpoint_id = \(endpoint)
                """, logger: logger)
        }
        func expect(_ claimed: [(id: Int64, after: Int64?)], _ expected: [(Int64, Int64?)], _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(claimed.map(\.id) == expected.map(\.0), comment, sourceLocation: sourceLocation)
            #expect(claimed.map(\.after) == expected.map(\.1), comment, sourceLocation: sourceLocation)
        }

        // Up to three of a stream, each after the one before it; the heads after nothing.
        expect(try await claim(), [(a1, nil), (a2, a1), (b1, nil), (a3, a2), (b2, b1)], "a's chain is cut at three, b's is whole")
        #expect(try await claim().isEmpty, "every head is out: nothing behind a chain goes")

        // Room for three of the endpoint: both heads first, then the second of the chain with the lower id.
        try await reset()
        expect(try await claim(maxHeld: 3), [(a1, nil), (a2, a1), (b1, nil)], "heads first, then seconds")

        // An endpoint answering slowly gets shorter chains: two of each stream here.
        try await reset()
        expect(try await claim(chain: 4, chains: [endpoint: 2, UUID(): 1]), [(a1, nil), (a2, a1), (b1, nil), (b2, b1)], "two of a, two of b")

        // A message leased elsewhere ends its chain: nothing behind it goes.
        try await reset()
        try await database.query("""
            UPDATE webhook_messages SET lease_owner = 'elsewhere', lease_expires_at = now() + interval '1 minute', attempts = 1 WHERE id = \(a2)
            """, logger: logger)
        expect(try await claim(chain: 4), [(a1, nil), (b1, nil), (b2, b1)], "a's chain stops before a2")

        // A message tried before (its retry due) ends the chain too: it is nobody's follower.
        try await reset()
        try await database.query("UPDATE webhook_messages SET attempts = 1 WHERE id = \(a3)", logger: logger)
        expect(try await claim(chain: 4), [(a1, nil), (a2, a1), (b1, nil), (b2, b1)], "a3 was tried: the chain stops before it")

        // A chain message another claim is locking right now (not yet leased) is passed over, and so is everything
        // behind it: a3 would otherwise go out before a2.
        try await reset()
        let whileLocked = try await database.withTransaction(logger: logger) { db in
            try await db.query("SELECT id FROM webhook_messages WHERE id = \(a2) FOR UPDATE", logger: logger)
            return try await claim(chain: 4)
        }
        expect(whileLocked, [(a1, nil), (b1, nil), (b2, b1)], "a2 locked elsewhere: a3 and a4 stay")

        // A head whose first retry is not due holds its stream: nothing behind it goes. Past its first retry it holds
        // nothing back: it goes alone when due, and the next message heads a chain.
        try await reset()
        try await database.query("""
            UPDATE webhook_messages SET attempts = 1, next_attempt_at = now() + interval '1 hour' WHERE id = \(b1)
            """, logger: logger)
        expect(try await claim(chain: 4), [(a1, nil), (a2, a1), (a3, a2), (a4, a3)], "b waits for b1's retry")
        try await reset()
        try await database.query("UPDATE webhook_messages SET attempts = 2 WHERE id = \(a1)", logger: logger)
        expect(try await claim(chain: 4), [(a1, nil), (a2, nil), (b1, nil), (a3, a2), (b2, b1), (a4, a3)],
               "a1 is a retry on its own; a2 heads a's chain")
    }

    static func headsInTurn(_ database: Database) async throws {
        let endpoint = try await database.withConnection { db in
            try await OutboundDispatcherTests.endpoint("claims", on: db)
        }
        // Stream a has three messages, b two, c one: ids in this order.
        let ids = try await Self.insert(["a", "a", "b", "a", "b", "c"], endpoint: endpoint, database)
        #expect(ids.count == 6)
        let (a1, a2, b1, a3, b2, c1) = (ids[0], ids[1], ids[2], ids[3], ids[4], ids[5])

        func claim(after: WebhookMessagesTable.StreamKey?, maxHeld: Int = 10) async throws -> ([Int64], WebhookMessagesTable.StreamKey?) {
            let (claimed, last) = try await WebhookMessagesTable.claimDue(
                owner: "claim-test", lease: .seconds(60), held: [:], maxHeld: maxHeld, after: after, limit: 10, database: database, logger: logger)
            return (claimed.map(\.id), last)
        }

        // One of an endpoint's messages at a time: the walk stops at stream a's head, and the next claim goes on from a.
        let (first, afterFirst) = try await claim(after: nil, maxHeld: 1)
        #expect(first == [a1])
        #expect(afterFirst == .init(endpointId: endpoint, stream: "a"))
        let (second, afterSecond) = try await claim(after: afterFirst, maxHeld: 1)
        #expect(second == [b1], "stream b's turn, not a's next message (a1 is out, a2 waits behind it)")
        #expect(afterSecond == .init(endpointId: endpoint, stream: "b"))
        let (third, afterThird) = try await claim(after: afterSecond, maxHeld: 1)
        #expect(third == [c1])
        #expect(afterThird == .init(endpointId: endpoint, stream: "c"))
        let (fourth, afterFourth) = try await claim(after: afterThird)
        #expect(fourth.isEmpty, "around every stream, every head is out")
        #expect(afterFourth == nil)

        // Every head is out: nothing behind them may go, whatever the room.
        let (none, _) = try await claim(after: nil)
        #expect(none.isEmpty)

        // a1 and b1 delivered: a2 and b2 are their streams' heads now; a3 still waits behind a2.
        try await database.query("""
            UPDATE webhook_messages SET status = 'delivered', lease_owner = NULL, lease_expires_at = NULL WHERE id = ANY(\([a1, b1]))
            """, logger: logger)
        // From after stream c the walk goes around: a's turn first, then b's.
        let (wrapped, afterWrapped) = try await claim(after: afterThird, maxHeld: 1)
        #expect(wrapped == [a2], "past the last stream the walk goes on from the first")
        #expect(afterWrapped == .init(endpointId: endpoint, stream: "a"))
        let (next, _) = try await claim(after: afterWrapped)
        #expect(next == [b2])

        // a2's first attempt failed and its retry is not due: a3 waits for that retry; after it, a3 may go.
        try await database.query("""
            UPDATE webhook_messages SET lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = now() + interval '1 hour' WHERE id = \(a2)
            """, logger: logger)
        let (waiting, _) = try await claim(after: nil)
        #expect(waiting.isEmpty, "a3 waits while a2 has had one attempt")
        try await database.query("UPDATE webhook_messages SET attempts = 2 WHERE id = \(a2)", logger: logger)
        let (afterRetry, _) = try await claim(after: nil)
        #expect(afterRetry == [a3])
    }

    static func insert(_ streams: [String], endpoint: UUID, _ database: Database) async throws -> [Int64] {
        var ids: [Int64] = []
        for (index, stream) in streams.enumerated() {
            let rows = try await database.query("""
                INSERT INTO webhook_messages (message_id, endpoint_id, event_type, stream, body)
                VALUES (\("msg_claim_\(index)"), \(endpoint), 'contacts.changed', \(stream), '{}') RETURNING id
                """, logger: logger)
            ids.append(try #require(rows.first).decode(Int64.self))
        }
        return ids
    }
}
