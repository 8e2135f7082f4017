import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Reloads `pipelines.yaml` when it changes. An invalid edit keeps the last good set running; its
/// errors show in `/health/detailed`, the admin API, the log and `pipelines_config_valid`.
public final class PipelineFileWatcher: Service {
    let registry: PipelineRegistry
    let interval: Duration
    /// Backfills what a reload newly enables; nil where nothing may be queued (tests of the watcher alone).
    let actions: PipelineActions?
    let logger: Logger

    public init(registry: PipelineRegistry, interval: Duration, actions: PipelineActions? = nil, logger: Logger) {
        self.registry = registry
        self.interval = interval
        self.actions = actions
        self.logger = logger
    }

    public func run() async throws {
        let valid = Gauge(label: "pipelines_config_valid")
        valid.record(registry.snapshot.lastError == nil ? 1 : 0)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            // Compared with what the registry last read, so an edit made before this service started counts too.
            if registry.fileSignature() != registry.snapshot.readSignature {
                await reload(valid)
            }
            try? await Task.sleep(for: interval)
        }
    }

    func reload(_ valid: Gauge) async {
        let result = if let actions { await actions.reload(logger: logger) } else { registry.reload() }
        switch result {
        case .success(let changed):
            valid.record(1)
            if changed {
                Counter(label: "pipelines_reloads_total", dimensions: [("outcome", "applied")]).increment()
                logger.info("pipelines file reloaded", metadata: ["hash": "\(registry.current?.hash.prefix(12) ?? "")"])
            }
        case .failure(let errors):
            valid.record(0)
            Counter(label: "pipelines_reloads_total", dimensions: [("outcome", "rejected")]).increment()
            logger.error("pipelines file has errors; the last good version keeps running", metadata: [
                "errors": "\(errors.diagnostics.map(\.description))",
            ])
        }
    }
}
