import Foundation
import Hummingbird

/// `/health` (process up), `/health/live`, `/health/ready` and `/health/detailed`.
struct HealthController<Context: RequestContext>: Sendable {
    let checker: HealthChecker

    func register(on router: Router<Context>) {
        router.get("/health") { _, _ in try JSONResponse.make(["status": "ok"], status: .ok) }
        router.get("/health/live") { _, _ in try JSONResponse.make(["status": "ok"], status: .ok) }
        router.get("/health/ready") { _, _ in
            let report = await checker.readiness()
            return try JSONResponse.make(report, status: report.status == .ok ? .ok : .serviceUnavailable)
        }
        router.get("/health/detailed") { _, _ in
            let report = await checker.detailed()
            return try JSONResponse.make(report, status: report.status == .down ? .serviceUnavailable : .ok)
        }
    }
}
