import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOFoundationCompat
import MarketplaceCore
import Metrics

extension NangoClient {
    struct Answer {
        let status: HTTPResponseStatus
        let headers: HTTPHeaders
        let body: ByteBuffer
    }

    func send<Response: Decodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = []
    ) async throws(NangoError) -> Response {
        try decode(try await perform(method, path, query: query, headers: headers, body: nil))
    }

    func send<Response: Decodable>(
        _ method: HTTPMethod, _ path: String, body: some Encodable
    ) async throws(NangoError) -> Response {
        let bytes: Data
        do {
            bytes = try JSONEncoder().encode(body)
        } catch {
            throw .decoding(field: "(request body)", message: "\(error)")
        }
        return try decode(try await perform(method, path, query: [], headers: [], body: ByteBuffer(bytes: bytes)))
    }

    /// One logical call: attempts until success, a permanent error, or the budget runs out.
    func perform(
        _ method: HTTPMethod, _ path: String, query: [(String, String)], headers: [(String, String)],
        body: ByteBuffer?, acceptAnyStatus: Bool = false
    ) async throws(NangoError) -> Answer {
        var attempt = 1
        var rateLimitPauses = 0
        while true {
            do {
                try await rateLimit.wait()
            } catch {
                throw .transport("cancelled")
            }
            let failure: NangoError
            do {
                let answer = try await attemptOnce(method, path, query: query, headers: headers, body: body)
                if acceptAnyStatus, !Self.isNangoFailure(answer) { return answer }
                if (200..<300).contains(answer.status.code) { return answer }
                failure = Self.error(for: answer)
            } catch {
                failure = error
            }
            if case .rateLimited(let untilReset) = failure {
                // The window is the account's: pause every call, and spend no attempt on it.
                guard untilReset <= configuration.maxRetryAfter, rateLimitPauses < configuration.maxRateLimitPauses else { throw failure }
                rateLimitPauses += 1
                let jitter = Duration.milliseconds(Int64.random(in: 0...max(0, Int64(configuration.rateLimitJitter / .milliseconds(1)))))
                await rateLimit.pause(until: .now + untilReset + jitter)
                Counter(label: "nango_rate_limited_total").increment()
                logger.warning("nango rate limit reached: every call waits for the window to reset", metadata: [
                    "nango.method": "\(method)", "nango.path": "\(path)", "resume_in_ms": "\((untilReset + jitter) / .milliseconds(1))",
                ])
                continue
            }
            guard failure.isTransient, attempt < configuration.maxAttempts else { throw failure }
            let delay = backOff(attempt: attempt)
            logger.warning("nango call failed, retrying", metadata: [
                "nango.method": "\(method)", "nango.path": "\(path)", "attempt": "\(attempt)",
                "error": "\(failure)", "retry_in_ms": "\(delay / .milliseconds(1))",
            ])
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw .transport("cancelled")
            }
            attempt += 1
        }
    }

    /// Full jitter: a random wait up to the exponential ceiling, so many clients do not retry in step.
    func backOff(attempt: Int) -> Duration {
        let ceiling = min(configuration.initialBackOff * (1 << min(attempt - 1, 20)), configuration.maxBackOff)
        return .nanoseconds(Int64.random(in: 0...max(1, ceiling / .nanoseconds(1) > 0 ? Int64(ceiling / .nanoseconds(1)) : 1)))
    }

    private func attemptOnce(
        _ method: HTTPMethod, _ path: String, query: [(String, String)], headers: [(String, String)], body: ByteBuffer?
    ) async throws(NangoError) -> Answer {
        var components = URLComponents(string: configuration.baseURL + path)
        if !query.isEmpty { components?.percentEncodedQuery = Self.encodeQuery(query) }
        guard let url = components?.string else { throw .transport("invalid URL for \(path)") }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(configuration.secretKey.value)")
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
        }
        let deadline = NIODeadline.now() + .nanoseconds(Int64(configuration.timeout / .nanoseconds(1)))
        do {
            let response = try await http.execute(request, deadline: deadline)
            let bytes = try await response.body.collect(upTo: configuration.maxResponseBytes)
            return Answer(status: response.status, headers: response.headers, body: bytes)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw .timeout
        } catch {
            throw .transport(String(describing: error))
        }
    }

    /// How long until Nango's window resets: `X-RateLimit-Reset` (epoch seconds) when sent, else `Retry-After`,
    /// and at least a second, since `Retry-After` is rounded down to `0` in the window's last second (docs/nango.md §2.2).
    static func rateLimitWait(_ headers: HTTPHeaders, now: Date) -> Duration {
        var wait = Duration.seconds(1)
        if let reset = headers.first(name: "X-RateLimit-Reset").flatMap(Double.init) {
            wait = .milliseconds(Int64(((reset - now.timeIntervalSince1970) * 1000).rounded(.up)))
        } else if let seconds = headers.first(name: "Retry-After").flatMap(Int.init) {
            wait = .seconds(seconds)
        }
        return max(wait, .seconds(1))
    }

    /// Nango parses query strings with `qs`, which reads a literal `+` as a space (docs/nango.md §2.1): every
    /// reserved character, `+` included, is percent-encoded.
    static func encodeQuery(_ items: [(String, String)]) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text }
        return items.map { encode($0.0) + "=" + encode($0.1) }.joined(separator: "&")
    }

    private func decode<Response: Decodable>(_ answer: Answer) throws(NangoError) -> Response {
        do {
            return try JSONDecoder().decode(Response.self, from: answer.body)
        } catch let DecodingError.keyNotFound(key, context) {
            throw .decoding(field: Self.path(context.codingPath + [key]), message: "missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw .decoding(field: Self.path(context.codingPath), message: context.debugDescription)
        } catch let DecodingError.dataCorrupted(context) {
            throw .decoding(field: Self.path(context.codingPath), message: context.debugDescription)
        } catch {
            throw .decoding(field: "", message: "\(error)")
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }

    /// For proxied calls only Nango's own refusals are failures, not the provider's statuses.
    private static func isNangoFailure(_ answer: Answer) -> Bool {
        guard answer.status.code >= 400, let body = try? JSONDecoder().decode(NangoErrorBody.self, from: answer.body) else {
            return false
        }
        return ["unknown_provider_config", "server_error", "connection_refresh_backoff", "missing_auth_header",
                "unknown_account", "invalid_secret_key_format", "too_many_request"].contains(body.error.code ?? "")
    }

    static func error(for answer: Answer) -> NangoError {
        let detail = (try? JSONDecoder().decode(NangoErrorBody.self, from: answer.body))?.error
        let code = detail?.code ?? "http_\(answer.status.code)"
        switch answer.status.code {
        case 401: return .unauthorized(code: code, message: detail?.message)
        case 403: return .forbidden(code: code, message: detail?.message)
        case 404: return .notFound(code: code, message: detail?.message)
        // Nango gave up refreshing the connection's token (docs/nango.md §2.5): the customer must reconnect.
        case 424: return .refreshExhausted(code: code, message: detail?.message)
        case 400 where ["unknown_connection", "unknown_provider_config"].contains(code):
            return .notFound(code: code, message: detail?.message)
        case 429:
            return .rateLimited(retryAfter: rateLimitWait(answer.headers, now: Date()))
        case 500...:
            return .server(status: Int(answer.status.code), code: detail?.code, message: detail?.message)
        default:
            return .badRequest(status: Int(answer.status.code), code: code, message: detail?.message)
        }
    }
}
