import CoreMetrics
import Hummingbird
import Logging
import Outbound
import Prometheus
import Query
import Redis
import Storage

/// `GET /metrics` in Prometheus text format. Pool and dependency gauges are refreshed at scrape
/// time, so they show the state when Prometheus looks, not when something last changed.
struct MetricsController<Context: RequestContext>: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: any MetricsFactory
    let database: Database
    let redis: RedisClient
    /// Told when the scrape's PING answers: hot pages served from this process never touch Redis, so without it the
    /// cache could report its fallback active long after Redis came back.
    let cache: QueryCache
    /// Outbound messages waiting, every endpoint together (one indexed count a scrape).
    let outbound: WebhookEndpoints
    /// The change feed's long polls held now, beside how many may be: past that bound they are answered 503.
    let changeSignals: ChangeSignals
    let cpu = ProcessCPUCounter()

    func register(on router: Router<Context>) {
        router.get("/metrics") { _, _ in
            await refreshGauges()
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16 * 1024)
            registry.emit(into: &bytes)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
    }

    private func refreshProcessFigures() {
        guard let figures = ProcessFigures.current() else { return }
        FloatingPointCounter(label: "process_cpu_seconds_total", factory: factory).increment(by: cpu.advance(to: figures.cpuSeconds))
        Gauge(label: "process_resident_memory_bytes", factory: factory).record(figures.residentBytes)
        Gauge(label: "process_open_fds", factory: factory).record(figures.openFileDescriptors)
        Gauge(label: "process_start_time_seconds", factory: factory).record(figures.startTimeSeconds)
    }

    private func refreshGauges() async {
        refreshProcessFigures()
        let postgres = database.poolFigures
        Gauge(label: "db_pool_connections_max", factory: factory).record(postgres.maxConnections)
        Gauge(label: "db_pool_connections_in_use", factory: factory).record(postgres.inUse)
        Gauge(label: "changes_long_polls_held", factory: factory).record(changeSignals.held)
        Gauge(label: "changes_long_polls_max", factory: factory).record(changeSignals.capacity)
        let up: Bool
        do {
            _ = try await redis.ping()
            up = true
            cache.redisAnswered()
        } catch {
            up = false
        }
        let pool = await redis.figures
        Gauge(label: "redis_up", factory: factory).record(up ? 1 : 0)
        Gauge(label: "redis_pool_connections", dimensions: [("state", "open")], factory: factory).record(pool.open)
        Gauge(label: "redis_pool_connections", dimensions: [("state", "idle")], factory: factory).record(pool.idle)
        Gauge(label: "redis_pool_waiting", factory: factory).record(pool.waiting)
        if let pending = try? await outbound.pendingCount(logger: Logger(label: "metrics")) {
            Gauge(label: "outbound_pending_messages", factory: factory).record(pending)
        }
    }
}
