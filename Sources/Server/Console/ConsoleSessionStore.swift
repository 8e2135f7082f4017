import Foundation
import Logging
import Storage

/// The console's sign-ins, kept in Postgres so every instance knows them and a sign-out ends one everywhere. Only
/// a hash of each session id is stored; which token may open which role is the console's business, not this one's.
/// The edge's own state (no use case of Ingest, Pipeline or Query has any business with it): the one Server file
/// `ArchitectureTests` lets name a table.
struct ConsoleSessionStore: Sendable {
    let database: Database

    func open(
        idHash: [UInt8], role: String, csrfToken: String, tokenFingerprint: String, address: String, ttl: Duration, logger: Logger
    ) async throws {
        try await database.withConnection { db in
            try await ConsoleSessionsTable.create(
                idHash: idHash, role: role, csrfToken: csrfToken, tokenFingerprint: tokenFingerprint, address: address, ttl: ttl,
                on: db, logger: logger)
        }
    }

    /// The live session with this id hash, if any.
    func find(idHash: [UInt8], logger: Logger) async throws -> ConsoleSessionRecord? {
        try await database.withConnection { db in try await ConsoleSessionsTable.find(idHash: idHash, on: db, logger: logger) }
    }

    func close(idHash: [UInt8], logger: Logger) async throws {
        try await database.withConnection { db in try await ConsoleSessionsTable.delete(idHash: idHash, on: db, logger: logger) }
    }
}
