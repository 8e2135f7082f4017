import CoreMetrics
import Synchronization

/// The request meters: `http_requests_total{method,route,status}` and the `http_request_duration_seconds{method,route}`
/// histogram (Prometheus-friendly), recorded by `RequestEdgeMiddleware`. The
/// counter and timer of each (method, route, status) are made once: asking the factory on every request costs a
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
