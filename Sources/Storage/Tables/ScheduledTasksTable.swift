import Foundation
import Logging
import PostgresNIO

/// SQL for `scheduled_tasks`: a run is claimed by moving `next_run_at` forward in one statement,
/// so among several instances exactly one starts each run.
public enum ScheduledTasksTable {
    public static func claim(name: String, every interval: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await connection.query("INSERT INTO scheduled_tasks (name) VALUES (\(name)) ON CONFLICT (name) DO NOTHING", logger: logger)
        let rows = try await connection.query("""
            UPDATE scheduled_tasks SET next_run_at = now() + make_interval(secs => \(Double(interval.components.seconds))),
                   last_started_at = now(), runs = runs + 1
            WHERE name = \(name) AND next_run_at <= now()
            RETURNING name
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    public static func finish(name: String, outcome: RunOutcome, error: String?, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            UPDATE scheduled_tasks SET last_finished_at = now(), last_outcome = \(outcome.rawValue), last_error = \(error) WHERE name = \(name)
            """, logger: logger)
    }

    /// Makes a task due now (tests, and the admin API's "run now").
    public static func makeDue(name: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO scheduled_tasks (name, next_run_at) VALUES (\(name), now())
            ON CONFLICT (name) DO UPDATE SET next_run_at = now()
            """, logger: logger)
    }
}
