import Foundation

/// Who is asking, from a verified token: a company-scoped token sees that company only, `admin` sees all.
public struct Principal: Sendable, Equatable {
    public var subject: String
    public var companyId: UUID?
    public var isAdmin: Bool
    /// The company's token generation the token was issued under (0 for tokens without one).
    public var tokenGeneration: Int

    public init(subject: String, companyId: UUID?, isAdmin: Bool, tokenGeneration: Int = 0) {
        self.subject = subject
        self.companyId = companyId
        self.isAdmin = isAdmin
        self.tokenGeneration = tokenGeneration
    }

    /// Another company's id reads as "not found", never "forbidden", so ids cannot be probed.
    public func canSee(_ company: UUID) -> Bool { isAdmin || companyId == company }
}
