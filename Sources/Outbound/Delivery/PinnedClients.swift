import AsyncHTTPClient
import NIOCore
import Synchronization

/// HTTP clients for deliveries. With internal networks refused, a delivery to a host name connects to the address the
/// policy just checked (`dnsOverride`: the TLS name and certificate are still checked against the host), through a
/// client of its own per (host, address); without the check, one shared client. Redirects are never followed.
final class PinnedClients: Sendable {
    let shared: HTTPClient
    private let pinned = Mutex<[String: HTTPClient]>([:])
    /// Beyond this many pinned clients the oldest set is let go (a host's address rarely changes; endpoints are few).
    let limit = 256

    init() {
        shared = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.configuration([:]))
    }

    static func configuration(_ overrides: [String: String]) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)), decompression: .disabled)
        configuration.dnsOverride = overrides
        return configuration
    }

    func client(for pin: (host: String, address: String)?) -> HTTPClient {
        guard let pin else { return shared }
        let key = pin.host + "|" + pin.address
        let (client, dropped) = pinned.withLock { clients -> (HTTPClient, [HTTPClient]) in
            if let client = clients[key] { return (client, []) }
            var dropped: [HTTPClient] = []
            if clients.count >= limit {
                dropped = Array(clients.values)
                clients.removeAll()
            }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.configuration([pin.host: pin.address]))
            clients[key] = client
            return (client, dropped)
        }
        for old in dropped { Task { try? await old.shutdown() } }
        return client
    }

    func shutdown() async {
        let all = pinned.withLock { clients in
            defer { clients.removeAll() }
            return Array(clients.values)
        }
        for client in all + [shared] { try? await client.shutdown() }
    }
}
