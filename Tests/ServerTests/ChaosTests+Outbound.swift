import AsyncHTTPClient
import Foundation
import MarketplaceCore
import NIOCore
import NIOHTTP1
import Testing
import TestSupport

extension ChaosTests {
    /// An outbound webhook endpoint at a receiver that verifies every message with `standardwebhooks` and `svix`: after
    /// each round, every change committed since the endpoint was registered must have reached it at least once.
    final class OutboundWitness: Sendable {
        let receiver: WebhookReceiver
        /// Transaction ids from here on began after the endpoint was registered: their changes are owed to it. (The
        /// dispatcher's position is no baseline: a round that had not seen the endpoint yet may still move it.)
        let baseline: String

        private init(receiver: WebhookReceiver, baseline: String) {
            self.receiver = receiver
            self.baseline = baseline
        }

        static func start(_ cluster: Cluster) async throws -> OutboundWitness {
            let receiver = try await WebhookReceiver.start()
            let server = try #require(cluster.instance(0))
            var request = HTTPClientRequest(url: "\(server.baseURL)/api/admin/webhook-endpoints")
            request.method = .POST
            request.headers.add(name: "X-Admin-Token", value: TestEnvironment.values()["ADMIN_TOKEN"]!)
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: #"{"url": "\#(receiver.url("chaos"))", "description": "the chaos suite's witness"}"#))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let body = try JSONValue.parse(Array(try await response.body.collect(upTo: 1 << 20).readableBytesView))
            #expect(response.status == .created, "\(body)")
            try await receiver.configure("chaos", secrets: [try #require(body["secret"]?.string)])
            let xmax = try await cluster.strings("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
            return OutboundWitness(receiver: receiver, baseline: try #require(xmax.first))
        }

        /// The changes owed and not yet received, once `wait` has passed or none are missing; and any message a library
        /// refused.
        func check(_ cluster: Cluster, wait: Duration = .seconds(90)) async throws -> [String] {
            var missing: Set<String> = []
            var refused = 0
            let found = await ChaosTests.waitFor(wait) { () -> Bool? in
                let owed = Set(try await cluster.strings("""
                    SELECT seq::text FROM changes WHERE xid >= '\(self.baseline)'::xid8 AND xid < (SELECT change_log_bound())
                    """))
                let received = try await self.receiver.received("chaos")
                refused = received.filter { !($0.standard && $0.svix) }.count
                let carried = Set(received.flatMap { message -> [String] in
                    guard case .array(let changes)? = message.json["data"]?["changes"] else { return [] }
                    return changes.compactMap { $0["id"]?.string }
                })
                missing = owed.subtracting(carried)
                return missing.isEmpty ? true : nil
            }
            var problems: [String] = []
            if found == nil { problems.append("\(missing.count) changes never reached the endpoint, e.g. change \(missing.sorted().first ?? "")") }
            if refused > 0 { problems.append("\(refused) messages refused by standardwebhooks or svix") }
            return problems
        }

        func stop() { receiver.stop() }
    }
}
