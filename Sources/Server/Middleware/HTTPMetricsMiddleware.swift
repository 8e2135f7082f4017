import CoreMetrics
import Hummingbird
import Synchronization

/// Prometheus-friendly request metrics: `http_requests_total{method,route,status}` and the
/// `http_request_duration_seconds{method,route}` histogram. The route is the matched pattern
/// (`/api/companies/{id}`), never the raw path, so label cardinality stays bounded.
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let meters: HTTPMeters

    init(factory: any MetricsFactory) {
        self.meters = HTTPMeters(factory: factory)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let (requests, duration) = meters.meters(
            method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: Int(response.status.code))
        requests.increment()
        duration.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
        return response
    }
}

/// The counter and timer of each (method, route, status), made once: asking the factory on every request costs a
/// registry lookup under its lock and the label strings.
final class HTTPMeters: Sendable {
    struct Key: Hashable {
        let method: String
        let route: String
        let status: Int
    }

    let factory: any MetricsFactory
    let made = Mutex<[Key: (Counter, Timer)]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func meters(method: String, route: String, status: Int) -> (Counter, Timer) {
        let key = Key(method: method, route: route, status: status)
        if let found = made.withLock({ $0[key] }) { return found }
        let meters = (
            Counter(label: "http_requests_total", dimensions: [("method", method), ("route", route), ("status", String(status))], factory: factory),
            Timer(label: "http_request_duration_seconds", dimensions: [("method", method), ("route", route)], factory: factory)
        )
        return made.withLock { made in
            if let found = made[key] { return found }
            made[key] = meters
            return meters
        }
    }
}
