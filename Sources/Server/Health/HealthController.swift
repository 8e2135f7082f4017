import Foundation
import HTTPTypes
import Hummingbird
import MarketplaceCore

/// `/health` (process up), `/health/live`, `/health/ready` and `/health/detailed`.
struct HealthController<Context: RequestContext>: Sendable {
    let checker: HealthChecker
    /// Raw error texts and file paths go only to a caller holding the admin token; the public answer keeps statuses.
    let adminToken: Secret?

    /// `/health/detailed` goes on `limited` (an address-limited group): it costs queries. The others stay unlimited,
    /// as load balancers and probes poll them.
    func register(on router: Router<Context>, limited: RouterGroup<Context>) {
        router.get("/health") { _, _ in JSONResponse.prepared(JSONResponse.statusOK) }
        router.get("/health/live") { _, _ in JSONResponse.prepared(JSONResponse.statusOK) }
        router.get("/health/ready") { _, _ in
            let report = await checker.readiness()
            return try JSONResponse.make(report, status: report.status == .ok ? .ok : .serviceUnavailable)
        }
        limited.get("/health/detailed") { request, _ in
            var report = await checker.detailed()
            let status: HTTPResponse.Status = report.status == .down ? .serviceUnavailable : .ok
            let isAdmin = adminToken.map { token in request.headers[.adminToken].map { AdminTokenMiddleware<Context>.matches($0, token.value) } ?? false } ?? false
            if !isAdmin { report = report.publicView }
            return try JSONResponse.make(report, status: status)
        }
    }
}
