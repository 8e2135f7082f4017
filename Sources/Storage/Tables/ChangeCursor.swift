import Crypto
import Foundation
import MarketplaceCore

/// A change feed's cursor: a position in the change log, bound to the feed it came from (one company's, or every
/// company's) and HMAC-signed. Nothing else goes in, so one position on one feed always encodes to the same text: a
/// receiver can chain cursors by comparing them.
public struct ChangeCursor: Sendable {
    let key: SymmetricKey

    /// A key of its own, derived from the JWT secret (as the list cursors' is, under another label).
    public init(secret: String) {
        key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("change-cursor-v1".utf8), using: SymmetricKey(data: Data(secret.utf8))))
    }

    /// The feed's name inside its cursors.
    public static func feed(_ companyId: UUID?) -> String {
        companyId.map { "company:" + $0.lowercasedString } ?? "all"
    }

    public func encode(_ position: ChangePosition, companyId: UUID?) -> String {
        let payload = Data("\(Self.feed(companyId))|\(position.xid)|\(position.seq)".utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: payload, using: key)
        return Base64URL.encode(payload) + "." + Base64URL.encode(Data(mac.prefix(16)))
    }

    /// Why a text is not a position on a feed.
    public enum Refusal: Error, Sendable, Equatable {
        /// Not a cursor we signed (made up, cut short, or tampered with).
        case notOurs
        /// Signed, for another company's feed or the other endpoint's.
        case anotherFeed
    }

    public func decode(_ text: String, companyId: UUID?) throws(ChangeCursor.Refusal) -> ChangePosition {
        let invalid = Refusal.notOurs
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = Base64URL.decode(parts[0]),
              let mac = Base64URL.decode(parts[1]), mac.count == 16,
              Data(HMAC<SHA256>.authenticationCode(for: payload, using: key).prefix(16)) == mac,
              let fields = String(data: payload, encoding: .utf8)?.split(separator: "|", omittingEmptySubsequences: false),
              fields.count == 3, let xid = UInt64(fields[1]), let seq = Int64(fields[2]) else { throw invalid }
        guard fields[0] == Self.feed(companyId) else {
            throw Refusal.anotherFeed
        }
        return ChangePosition(xid: xid, seq: seq)
    }
}
