import Crypto
import Foundation
import MarketplaceCore

/// An opaque keyset cursor: the sort key and last row's (sort value, id), bound to the list it came
/// from, HMAC-signed so a tampered or foreign cursor is refused rather than trusted.
public struct PageCursor: Sendable, Equatable {
    public var sort: String
    public var value: String
    public var id: String
    /// Which list (resource, company, filters) the cursor belongs to.
    public var scope: String

    public init(sort: String, value: String, id: String, scope: String) {
        self.sort = sort
        self.value = value
        self.id = id
        self.scope = scope
    }

    public struct Signer: Sendable {
        let key: SymmetricKey

        /// A key of its own, derived from the JWT secret so no new setting is needed.
        public init(secret: String) {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("page-cursor-v1".utf8), using: SymmetricKey(data: Data(secret.utf8))))
        }

        public func encode(_ cursor: PageCursor) -> String {
            let payload = [cursor.sort, cursor.value, cursor.id, cursor.scope].joined(separator: "\u{1F}")
            let mac = HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: key)
            return Base64URL.encode(Data(payload.utf8)) + "." + Base64URL.encode(Data(mac))
        }

        public func decode(_ text: String, scope: String) throws(QueryParameterError) -> PageCursor {
            let invalid = QueryParameterError(parameter: "cursor", message: "is not a cursor this list handed out")
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, let payload = Base64URL.decode(parts[0]), let mac = Base64URL.decode(parts[1]),
                  HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key),
                  let fields = String(data: payload, encoding: .utf8)?.split(separator: "\u{1F}", omittingEmptySubsequences: false),
                  fields.count == 4 else { throw invalid }
            let cursor = PageCursor(sort: String(fields[0]), value: String(fields[1]), id: String(fields[2]), scope: String(fields[3]))
            guard cursor.scope == scope else {
                throw QueryParameterError(parameter: "cursor", message: "belongs to another list or other filters")
            }
            return cursor
        }
    }
}
