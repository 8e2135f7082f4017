import Foundation
import Synchronization

/// The pipelines in force. An edit that fails its checks leaves the last good set running and is
/// kept as `lastError` for health, the admin API and a metric.
public final class PipelineRegistry: Sendable {
    public struct Snapshot: Sendable {
        public var current: PipelineSet?
        public var loadedAt: Date?
        public var lastError: PipelineFileErrors?
        public var lastErrorAt: Date?
        /// The file's signature when it was last read, good or bad: the watcher reloads when it differs.
        public var readSignature: String?
    }

    let state: Mutex<Snapshot>
    public let path: String

    public init(path: String, initial: PipelineSet? = nil) {
        self.path = path
        self.state = Mutex(Snapshot(current: initial, loadedAt: initial == nil ? nil : Date()))
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
    public var current: PipelineSet? { state.withLock { $0.current } }

    /// Reads and checks the file; on success it replaces the running set. Returns whether it changed.
    @discardableResult
    public func reload() -> Result<Bool, PipelineFileErrors> {
        // Taken before the read: an edit landing during the read shows as a change next time.
        let signature = fileSignature()
        state.withLock { $0.readSignature = signature }
        do {
            let set = try PipelineLoader.load(path: path)
            let changed = state.withLock { snapshot in
                let changed = snapshot.current?.hash != set.hash
                snapshot.current = set
                if changed { snapshot.loadedAt = Date() }
                snapshot.lastError = nil
                snapshot.lastErrorAt = nil
                return changed
            }
            return .success(changed)
        } catch {
            state.withLock { snapshot in
                snapshot.lastError = error
                snapshot.lastErrorAt = Date()
            }
            return .failure(error)
        }
    }

    /// The file's modification time and size: cheap to read every couple of seconds.
    public func fileSignature() -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "\(modified):\(attributes[.size] as? Int ?? 0)"
    }
}
