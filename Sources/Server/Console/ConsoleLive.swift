import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Outbound
import Pipeline
import ServiceLifecycle
import Synchronization

/// `GET /console/live`: server-sent events. `change` when an event arrived, a job moved, the quarantine changed, an
/// outbound message was made or tried, or a drift row changed (pages then fetch themselves again), `heartbeat` every `heartbeat` so a page can
/// tell a quiet feed from a dead one. The stream ends on sign-out, on shutdown, and after `lifetime` (the browser
/// reconnects on its own).
struct ConsoleLive: Sendable {
    let changes: ConsoleChanges
    let sessions: ConsoleSessions
    var poll: Duration = .seconds(2)
    var heartbeat: Duration = .seconds(10)
    var lifetime: Duration = .seconds(600)

    /// `since`: the signature the page was rendered at; a change after it is announced at once.
    func response(cookie: String, since: String?, logger: Logger) -> Response {
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
            HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { [self] writer in
            try await writer.write(ByteBuffer(string: "retry: 5000\n\n"))
            let clock = ContinuousClock()
            let started = clock.now
            var lastBeat = started
            var lastSessionCheck = started
            var seen = since.flatMap { $0.isEmpty ? nil : $0 }
            while !Task.isCancelled, !Task.isShuttingDownGracefully, started.duration(to: clock.now) < lifetime {
                if let signature = try? await changes.current(logger: logger), signature != seen {
                    if seen != nil {
                        try await writer.write(ByteBuffer(string: "event: change\ndata: \(signature)\n\n"))
                        lastBeat = clock.now
                    }
                    seen = signature
                }
                if lastBeat.duration(to: clock.now) >= heartbeat {
                    try await writer.write(ByteBuffer(string: "event: heartbeat\ndata: \(Int(Date().timeIntervalSince1970))\n\n"))
                    lastBeat = clock.now
                }
                if lastSessionCheck.duration(to: clock.now) >= .seconds(30) {
                    // Only an answer that there is no session ends the feed; a failed lookup is tried again later.
                    let signedOut: Bool
                    do { signedOut = try await sessions.session(cookie: cookie, logger: logger) == nil } catch { signedOut = false }
                    if signedOut {
                        try await writer.write(ByteBuffer(string: "event: signed-out\ndata: \n\n"))
                        break
                    }
                    lastSessionCheck = clock.now
                }
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: poll) }
                } catch {
                    break
                }
            }
            // Said before the end, so the page reconnects quietly instead of reporting a lost connection.
            if !Task.isCancelled { try? await writer.write(ByteBuffer(string: "event: end\ndata: \n\n")) }
            try await writer.finish(nil)
        })
    }
}

/// The change signature every live page compares with, read at most once per `freshness` for all of them together.
final class ConsoleChanges: Sendable {
    private struct Reading {
        var value: String
        var at: ContinuousClock.Instant
    }

    let ops: PipelineOps
    /// The outbound pages follow messages, attempts and endpoints: their part of the signature.
    let outbound: WebhookEndpoints
    /// The overview and company pages flag drifts: a drift row's change is theirs.
    let drift: DriftReports
    let freshness: Duration
    private let last = Mutex<Reading?>(nil)

    init(ops: PipelineOps, outbound: WebhookEndpoints, drift: DriftReports, freshness: Duration = .milliseconds(1500)) {
        self.ops = ops
        self.outbound = outbound
        self.drift = drift
        self.freshness = freshness
    }

    func current(logger: Logger) async throws -> String {
        let now = ContinuousClock.now
        if let reading = last.withLock({ $0 }), reading.at.duration(to: now) < freshness { return reading.value }
        let value = try await ops.changeSignature(logger: logger) + "|" + outbound.changeSignature(logger: logger) + "|"
            + drift.changeSignature(logger: logger)
        last.withLock { $0 = Reading(value: value, at: now) }
        return value
    }
}
