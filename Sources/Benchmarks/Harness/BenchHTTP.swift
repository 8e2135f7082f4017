import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The bench's own HTTP calls (readiness, admin actions, pages timed one at a time): one client that never
/// follows redirects, so a sign-in's cookie is seen.
final class BenchHTTP: Sendable {
    private let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    struct Answer: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let body: ByteBuffer
        /// From the request's start to the body's last byte.
        let elapsed: Duration
    }

    func send(_ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let start = ContinuousClock.now
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: bytes, elapsed: ContinuousClock.now - start)
    }

    func status(_ url: String) async throws -> Int { try await send(url).status }

    /// The answer, which must be 2xx.
    func expectOK(_ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: String? = nil) async throws -> Answer {
        let answer = try await send(url, method: method, headers: headers, body: body)
        guard (200..<300).contains(answer.status) else {
            throw BenchFailure("\(method) \(url) answered \(answer.status): \(String(buffer: answer.body).prefix(500))")
        }
        return answer
    }

    func shutdown() async throws { try await client.shutdown() }
}
