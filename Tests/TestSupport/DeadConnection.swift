import Foundation
import PostgresNIO
import Storage

/// A connection the server drops under its holder, as a Postgres crash or restart does.
public enum DeadConnection {
    /// Ends the backend of `connection` from another session of `database`, and returns once the client has closed
    /// its side and NIO has had time to take the channel's handlers off (a tick after the close): from then on a
    /// statement sent on it is dropped unanswered by postgres-nio.
    public static func kill(_ connection: PostgresConnection, database: Database) async throws {
        let pid = try await connection.query("SELECT pg_backend_pid()", logger: TestEnvironment.logger).collect()[0].decode(Int32.self)
        try await database.withConnection { other in
            _ = try await other.query("SELECT pg_terminate_backend(\(pid))", logger: TestEnvironment.logger).collect()
        }
        try await connection.closeFuture.get()
        try await Task.sleep(for: .milliseconds(200))
    }
}
