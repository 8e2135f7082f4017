import CoreMetrics
import HTTPTypes
import Hummingbird
import Logging

/// What every request gets on its way in and out, in one middleware (one async frame and one pair of clock reads per
/// request instead of four of each; `make bench` measures the difference against a bare Hummingbird):
/// - the request id: a well-formed incoming `X-Request-ID` is echoed, else Hummingbird's generated id; it goes into the
///   logger metadata, so every log line of the request carries it, and into the response;
/// - the access log: one structured line with route, status and duration (query strings are left out: they may carry
///   tokens);
/// - the request meters (`http_requests_total`, `http_request_duration_seconds`), by matched route pattern, never the
///   raw path, so label cardinality stays bounded;
/// - the security headers, where the handler set none of its own.
/// It is outermost, so it sees the final status: `ErrorMiddleware` below it returns errors as responses.
struct RequestEdgeMiddleware<Context: RequestContext>: RouterMiddleware {
    let meters: HTTPMeters

    init(metrics factory: any MetricsFactory) {
        self.meters = HTTPMeters(factory: factory)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let incoming = request.headers[.xRequestID], RequestID.isAcceptable(incoming) {
            context.logger[metadataKey: "hb.request.id"] = .string(incoming)
        }
        let start = ContinuousClock.now
        var response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        response.headers[.xRequestID] = context.id
        for field in SecurityHeaders.fields where !response.headers.contains(field.name) {
            response.headers.append(field)
        }
        let route = context.endpointPath ?? "unmatched"
        let (requests, duration) = meters.meters(method: request.method.rawValue, route: route, status: Int(response.status.code))
        requests.increment()
        duration.recordNanoseconds(Int64(elapsed / .nanoseconds(1)))
        context.logger.info("request", metadata: [
            "http.method": .string(request.method.rawValue),
            "http.path": .string(request.uri.path),
            "http.route": .string(route),
            "http.status": .string(String(response.status.code)),
            "duration_ms": .string(Self.milliseconds(elapsed)),
        ])
        return response
    }

    /// `12.345`: milliseconds with three decimals, formatted without going through `Double`.
    static func milliseconds(_ duration: Duration) -> String {
        let micros = max(0, Int(duration / .microseconds(1)))
        let fraction = String(micros % 1000)
        return String(micros / 1000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}

enum RequestID {
    /// Up to 128 visible ASCII characters without quotes or backslashes: safe in a header and a JSON log.
    static func isAcceptable(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128
            && id.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-ID")!
}
