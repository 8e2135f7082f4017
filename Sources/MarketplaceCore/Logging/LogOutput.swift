#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Logging
import Synchronization

/// Where JSON log lines go: a buffer that one background queue drains to a file descriptor. A request appends its
/// line and goes on, so no write(2) runs on an event loop and, under load, many lines leave in one call. Lines stay
/// whole and in the order they were appended. Whatever is buffered is written when the process exits normally
/// (`atexit`) or when `flush()` is called; a `kill -9` loses at most the lines of the last moments.
/// When the reader stops reading (a full pipe), the buffer stops at `limit` bytes and counts the lines it dropped,
/// which a line then reports, instead of holding memory without bound.
public final class LogOutput: Sendable {
    public static let standardOutput: LogOutput = {
        let output = LogOutput(descriptor: STDOUT_FILENO)
        atexit { LogOutput.standardOutput.flush() }
        return output
    }()

    struct Pending {
        var bytes: [UInt8] = []
        var scheduled = false
        var dropped = 0
    }

    let descriptor: Int32
    let limit: Int
    let pending = Mutex(Pending())
    /// Held while a batch is written, so two flushes never interleave their bytes.
    let writing = Mutex(())
    /// nil: lines leave only on `flush()` (tests that need the buffer to fill).
    let queue: DispatchQueue?

    public init(descriptor: Int32, limit: Int = 8 << 20, drainsInBackground: Bool = true) {
        self.descriptor = descriptor
        self.limit = limit
        self.queue = drainsInBackground ? DispatchQueue(label: "marketplace.log-output") : nil
    }

    public func append(_ line: String) {
        append(Array(line.utf8))
    }

    public func append(_ line: [UInt8]) {
        let schedule = pending.withLock { state -> Bool in
            guard state.bytes.count + line.count <= limit else {
                state.dropped += 1
                return false
            }
            state.bytes.append(contentsOf: line)
            if state.scheduled { return false }
            state.scheduled = true
            return true
        }
        // A millisecond's grace gathers the lines of many requests into one write and one wake-up of the queue.
        if schedule { queue?.asyncAfter(deadline: .now() + .milliseconds(1)) { self.flush() } }
    }

    /// Writes what is buffered now, on the caller's thread.
    public func flush() {
        writing.withLock { _ in
            let (bytes, dropped) = pending.withLock { state -> ([UInt8], Int) in
                let taken = (state.bytes, state.dropped)
                state.bytes.removeAll(keepingCapacity: true)
                state.dropped = 0
                state.scheduled = false
                return taken
            }
            writeAll(bytes)
            if dropped > 0 {
                writeAll(Array(JSONLogHandler.render(
                    timestamp: JSONLogHandler.timestamp(), level: .warning, label: "marketplace",
                    message: "log output fell behind its reader; lines dropped", metadata: ["dropped_lines": "\(dropped)"]
                ).utf8))
            }
        }
    }

    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0, errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
