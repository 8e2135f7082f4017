import Foundation

/// Who is asking, from a verified token: a company-scoped token sees that company only, `admin` sees all.
public struct Principal: Sendable, Equatable {
    public var subject: String
    public var companyId: UUID?
    public var isAdmin: Bool

    public init(subject: String, companyId: UUID?, isAdmin: Bool) {
        self.subject = subject
        self.companyId = companyId
        self.isAdmin = isAdmin
    }

    /// Another company's id reads as "not found", never "forbidden", so ids cannot be probed.
    public func canSee(_ company: UUID) -> Bool { isAdmin || companyId == company }
}
