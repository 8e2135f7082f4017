import Crypto
import Foundation
import Logging
import MarketplaceCore
import Pipeline
import Storage

/// Who a console sign-in is: `admin` (ADMIN_TOKEN) acts, `viewer` (CONSOLE_VIEWER_TOKEN) only looks.
enum ConsoleRole: String, Sendable {
    case admin, viewer
}

/// A signed-in console user: the role, and the CSRF token every action of the session must carry.
struct ConsoleSession: Sendable, Equatable {
    let role: ConsoleRole
    let csrfToken: String

    var canAct: Bool { role == .admin }
}

/// Console sign-ins: a token exchanged once for a random session id (the cookie), kept in Postgres by its hash so
/// every instance knows it and a sign-out ends it everywhere.
struct ConsoleSessions: Sendable {
    static let cookieName = "marketplace_console"

    let store: ConsoleSessionStore
    let adminToken: Secret?
    let viewerToken: Secret?
    let ttl: Duration
    /// Keys the token fingerprints (derived from `JWT_SECRET`): a copy of the table lets no one test token guesses.
    let fingerprintKey: SymmetricKey

    /// The role a presented token opens, compared in constant time; nil for any other token.
    func role(presenting token: String) -> ConsoleRole? {
        if let adminToken, AdminTokenMiddleware<AppRequestContext>.matches(token, adminToken.value) { return .admin }
        if let viewerToken, AdminTokenMiddleware<AppRequestContext>.matches(token, viewerToken.value) { return .viewer }
        return nil
    }

    /// Signing in is possible only when one of the two tokens is set.
    var isOpen: Bool { adminToken != nil || viewerToken != nil }

    /// A new session for a valid token: the cookie's value and the session; nil when the token opens nothing.
    func signIn(token: String, address: String, logger: Logger) async throws -> (cookie: String, session: ConsoleSession)? {
        guard let role = role(presenting: token) else { return nil }
        let id = Self.randomText()
        let session = ConsoleSession(role: role, csrfToken: Self.randomText())
        try await store.open(
            idHash: Self.hash(id), role: role.rawValue, csrfToken: session.csrfToken, tokenFingerprint: fingerprint(token),
            address: address, ttl: ttl, logger: logger)
        return (id, session)
    }

    /// The session a cookie names, while it lasts and while the token it was opened with is still the role's token.
    func session(cookie: String, logger: Logger) async throws -> ConsoleSession? {
        guard cookie.utf8.count <= 128 else { return nil }
        let record = try await store.find(idHash: Self.hash(cookie), logger: logger)
        guard let record, let role = ConsoleRole(rawValue: record.role) else { return nil }
        let current = role == .admin ? adminToken : viewerToken
        guard let current, fingerprint(current.value) == record.tokenFingerprint else { return nil }
        return ConsoleSession(role: role, csrfToken: record.csrfToken)
    }

    func signOut(cookie: String, logger: Logger) async throws {
        try await store.close(idHash: Self.hash(cookie), logger: logger)
    }

    static func randomText() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    static func hash(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Data(text.utf8))) }

    /// Which token opened a session, without keeping the token: a rotated token ends its sessions.
    func fingerprint(_ token: String) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Data(token.utf8), using: fingerprintKey).prefix(16))
    }

    /// The fingerprint key from the service's secret, for this use only.
    static func fingerprintKey(secret: String) -> SymmetricKey {
        SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("console-session-fingerprint".utf8), using: SymmetricKey(data: Data(secret.utf8))))
    }
}
