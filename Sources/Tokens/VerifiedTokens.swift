import Foundation
import JWTKit
import Synchronization

/// Tokens whose signature and claims were verified, until their `exp`. Bounded: when full, expired
/// entries go first, then everything (the next request of each client verifies once more).
final class VerifiedTokens: Sendable {
    static let capacity = 10_000
    private let entries = Mutex<[String: APIClaims]>([:])

    func claims(for token: String, now: Date) -> APIClaims? {
        entries.withLock { entries in
            guard let claims = entries[token] else { return nil }
            guard claims.exp.value > now else {
                entries[token] = nil
                return nil
            }
            return claims
        }
    }

    func remember(_ token: String, _ claims: APIClaims, now: Date) {
        entries.withLock { entries in
            if entries.count >= Self.capacity {
                entries = entries.filter { $0.value.exp.value > now }
                if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[token] = claims
        }
    }
}
