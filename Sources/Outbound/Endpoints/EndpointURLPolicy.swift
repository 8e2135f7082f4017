import Foundation
import NIOCore
import NIOPosix

/// Which URLs an endpoint may have: http(s) only, https unless `OUTBOUND_ALLOW_HTTP`, and no host that resolves to a
/// loopback, private, link-local or cloud-metadata address unless `OUTBOUND_ALLOW_PRIVATE_NETWORKS` (checked at
/// creation and again before each delivery, so a name that later points inside is caught).
public struct EndpointURLPolicy: Sendable {
    public let allowHTTP: Bool
    public let allowPrivateNetworks: Bool

    public init(allowHTTP: Bool, allowPrivateNetworks: Bool) {
        self.allowHTTP = allowHTTP
        self.allowPrivateNetworks = allowPrivateNetworks
    }

    /// Why a URL is refused, in words for the 400 naming `url`.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// The URL's form: scheme, host, no credentials.
    public func checkForm(_ text: String) throws(Refusal) -> URL {
        guard text.count <= 2048, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
              let host = url.host, !host.isEmpty else { throw Refusal(reason: "must be an absolute http or https URL") }
        guard scheme == "https" || scheme == "http" else { throw Refusal(reason: "must use https (or http), not \(scheme)") }
        guard scheme == "https" || allowHTTP else { throw Refusal(reason: "must use https (OUTBOUND_ALLOW_HTTP is off)") }
        guard url.user == nil, url.password == nil else { throw Refusal(reason: "must not carry a user name or password") }
        return url
    }

    /// The form, then every address the host resolves to. Returns the host and the address checked when the host is a
    /// name: a delivery connects to that address (so a name that changes its answer in between cannot lead inside).
    @discardableResult
    public func check(_ text: String) async throws(Refusal) -> (host: String, address: String)? {
        let url = try checkForm(text)
        guard !allowPrivateNetworks, let host = url.host else { return nil }
        let addresses: [String]
        do {
            addresses = try await Self.resolve(host)
        } catch {
            throw Refusal(reason: "its host does not resolve")
        }
        guard !addresses.isEmpty else { throw Refusal(reason: "its host does not resolve") }
        if let inside = addresses.first(where: Self.isInternal) {
            throw Refusal(reason: "its host resolves to \(inside), an internal address (OUTBOUND_ALLOW_PRIVATE_NETWORKS is off)")
        }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return addresses[0] == bare ? nil : (host, addresses[0])
    }

    /// The host's addresses (an address literal is itself), resolved off the event loops.
    static func resolve(_ host: String) async throws -> [String] {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if (try? SocketAddress(ipAddress: bare, port: 0)) != nil { return [bare] }
        return try await NIOThreadPool.singleton.runIfActive {
            try SocketAddress.makeAddressResolvingHost(bare, port: 443).ipAddress.map { [$0] } ?? []
        }
    }

    /// Loopback, unspecified, private (RFC 1918, unique local), carrier-grade NAT, link-local (cloud metadata lives at
    /// 169.254.169.254 and fd00:ec2::254), and IPv4 mapped into IPv6 judged as IPv4.
    public static func isInternal(_ address: String) -> Bool {
        if let v4 = ipv4(address) { return internalIPv4(v4) }
        guard let v6 = ipv6(address) else { return true }
        if v6[0..<10].allSatisfy({ $0 == 0 }), v6[10] == 0xff, v6[11] == 0xff { return internalIPv4(Array(v6[12..<16])) }
        if v6.allSatisfy({ $0 == 0 }) { return true }                                   // ::
        if v6[0..<15].allSatisfy({ $0 == 0 }), v6[15] == 1 { return true }              // ::1
        if v6[0] & 0xfe == 0xfc { return true }                                          // fc00::/7
        if v6[0] == 0xfe, v6[1] & 0xc0 == 0x80 { return true }                          // fe80::/10
        return false
    }

    static func internalIPv4(_ b: [UInt8]) -> Bool {
        switch (b[0], b[1]) {
        case (0, _), (10, _), (127, _): return true
        case (169, 254): return true
        case (172, 16...31): return true
        case (192, 168): return true
        case (100, 64...127): return true
        default: return b[0] >= 224   // multicast and reserved
        }
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address) { Array($0) }
    }

    static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: address) { Array($0) }
    }
}
