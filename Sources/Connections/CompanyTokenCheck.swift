import Foundation
import Logging
import MarketplaceCore
import Storage
import Synchronization

/// Whether a company token may still be used: its company exists, is not `disconnected`, and has not revoked
/// the token's generation. Each instance remembers a company's state for `ttl` (a revocation reaches every
/// instance within it) in a map capped in entries.
public final class CompanyTokenCheck: Sendable {
    public enum Verdict: Sendable, Equatable {
        case allowed
        case unknownCompany
        case disconnected
        case revoked
    }

    let database: Database
    let ttl: Duration
    let capacity: Int
    private let remembered = Mutex<[UUID: (status: CompanyStatus, generation: Int, until: ContinuousClock.Instant)]>([:])

    public init(database: Database, ttl: Duration = .seconds(2), capacity: Int = 10_000) {
        self.database = database
        self.ttl = ttl
        self.capacity = capacity
    }

    public func verdict(companyId: UUID, tokenGeneration: Int, logger: Logger) async throws -> Verdict {
        let now = ContinuousClock.now
        var state = remembered.withLock { map in map[companyId].flatMap { $0.until > now ? ($0.status, $0.generation) : nil } }
        if state == nil {
            let fresh = try await database.withConnection { db in try await CompaniesTable.tokenState(companyId: companyId, on: db, logger: logger) }
            guard let fresh else { return .unknownCompany }
            remembered.withLock { map in
                if map.count >= capacity { map.removeAll(keepingCapacity: true) }
                map[companyId] = (fresh.status, fresh.generation, now + ttl)
            }
            state = fresh
        }
        guard let (status, generation) = state else { return .unknownCompany }
        if status == .disconnected { return .disconnected }
        return tokenGeneration == generation ? .allowed : .revoked
    }

    /// The company's current token generation, read fresh: what a token issued now carries.
    public func generation(of companyId: UUID, logger: Logger) async throws -> Int? {
        try await database.withConnection { db in try await CompaniesTable.tokenState(companyId: companyId, on: db, logger: logger) }?.generation
    }

    /// The (integration, connection) of a company, for the reconnect check.
    public func identity(of companyId: UUID, logger: Logger) async throws -> ConnectionIdentity? {
        try await database.withConnection { db in try await CompaniesTable.find(id: companyId, on: db, logger: logger) }?.identity
    }

    /// Revokes every token issued for the company so far; nil when there is no such company.
    public func revokeAll(companyId: UUID, logger: Logger) async throws -> Int? {
        let generation = try await database.withConnection { db in try await CompaniesTable.revokeTokens(companyId: companyId, on: db, logger: logger) }
        forget(companyId: companyId)
        return generation
    }

    /// This instance's own revocation takes effect at once here; other instances follow within `ttl`.
    public func forget(companyId: UUID) {
        _ = remembered.withLock { $0.removeValue(forKey: companyId) }
    }
}
