import Foundation
import PostgresNIO
import Storage

/// The state a test orders its steps by, instead of a sleep: sessions of the test's own database waiting on a lock.
public enum LockWaits {
    /// Polls until `count` sessions of this database wait on a lock (those whose statement is `LIKE queryLike`), for
    /// up to `timeout`; returns whether they did. A test expects it, so an order that did not happen fails the test.
    public static func reach(
        _ count: Int, queryLike: String = "%", in database: Database, timeout: Duration = .seconds(30)
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let rows = try await database.query("""
                SELECT count(*)::int FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE \(queryLike)
                """, logger: TestEnvironment.logger)
            if try rows[0].decode(Int.self) >= count { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
