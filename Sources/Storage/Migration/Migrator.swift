import Logging
import PostgresNIO

/// Applies ``Migration``s under a Postgres advisory lock, so any number of instances can start at
/// once: one applies, the others wait on the lock and then find nothing left to do.
///
/// The whole run is one transaction holding `pg_advisory_xact_lock`: a failure leaves the schema as
/// it was, and the lock is released by commit, rollback or a dropped connection alike.
public struct Migrator: Sendable {
    /// Arbitrary but fixed: every instance of this service must use the same key.
    static let lockKey: Int64 = 0x6D61_726B_6574    // "market"

    public let migrations: [Migration]

    public init(migrations: [Migration]) {
        self.migrations = migrations
    }

    public struct Report: Sendable, Equatable {
        public let applied: [String]
        public let alreadyApplied: Int
    }

    public struct Status: Sendable, Equatable {
        public let applied: Int
        public let pending: [String]
        public var isCurrent: Bool { pending.isEmpty }
    }

    public func migrate(_ database: Database, logger: Logger) async throws -> Report {
        try await database.withTransaction(logger: logger) { connection in
            // A migration may rewrite a large table: no statement timeout inside this transaction.
            try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            let recorded = try await Self.recorded(on: connection, logger: logger)
            try verify(recorded)
            var applied: [String] = []
            for migration in migrations where recorded[migration.version] == nil {
                let start = ContinuousClock.now
                for (index, statement) in SQLScript.statements(in: migration.sql).enumerated() {
                    do {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    } catch let error as PSQLError {
                        throw MigrationError.statementFailed(
                            name: migration.name, statement: index + 1,
                            message: error.serverMessage)
                    }
                }
                try await connection.query(
                    """
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """, logger: logger)
                logger.info("migration applied", metadata: [
                    "migration": "\(migration.name)", "duration_ms": "\((ContinuousClock.now - start) / .milliseconds(1))",
                ])
                applied.append(migration.name)
            }
            return Report(applied: applied, alreadyApplied: recorded.count)
        }
    }

    /// What is applied and what is pending, without the lock; a missing table means nothing is applied.
    /// Also refuses an edited migration, so readiness fails the same way start-up would.
    public func status(_ database: Database, logger: Logger) async throws -> Status {
        let recorded: [Int: String]
        do {
            recorded = try await database.withConnection { connection in
                try await Self.recorded(on: connection, logger: logger)
            }
        } catch let error as PSQLError where error.isUndefinedTable {
            recorded = [:]
        }
        try verify(recorded)
        return Status(
            applied: recorded.count,
            pending: migrations.filter { recorded[$0.version] == nil }.map(\.name)
        )
    }

    private func verify(_ recorded: [Int: String]) throws(MigrationError) {
        for migration in migrations {
            if let checksum = recorded[migration.version], checksum != migration.checksum {
                throw .checksumMismatch(
                    version: migration.version, name: migration.name, recorded: checksum, current: migration.checksum)
            }
        }
    }

    private static func recorded(on connection: PostgresConnection, logger: Logger) async throws -> [Int: String] {
        var recorded: [Int: String] = [:]
        let rows = try await connection.query("SELECT version, checksum FROM schema_migrations", logger: logger)
        for try await (version, checksum) in rows.decode((Int, String).self) {
            recorded[version] = checksum
        }
        return recorded
    }
}
