import Foundation
import Synchronization

/// A TCP proxy on loopback that can cut the link: while cut it keeps every connection open and silently drops what
/// either side sends (a network partition, not a refusal: what is sent during the cut is lost, unlike a frozen server
/// that would apply it on resume). Blocking sockets on threads of its own; for tests only.
public final class DroppingProxy: Sendable {
    public let port: Int
    let target: Int
    let listener: Int32
    let cutFlag = Atomic<Bool>(false)
    /// Milliseconds each chunk of the target's replies is held before it is passed on (a slow server or link).
    let replyDelay = Atomic<Int>(0)
    let closed = Atomic<Bool>(false)

    public init(to target: Int) throws {
        self.target = target
        self.port = FreePort.next()
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let bound = Loopback.with(port) { bind(listener, $0, $1) }
        guard bound == 0, listen(listener, 64) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "proxy bind failed"]) }
        let proxy = self
        Thread.detachNewThread { proxy.acceptLoop() }
    }

    public var isCut: Bool { cutFlag.load(ordering: .relaxed) }
    public func cut() { cutFlag.store(true, ordering: .relaxed) }
    public func heal() { cutFlag.store(false, ordering: .relaxed) }
    /// Holds every reply this long before passing it on; 0 forwards at once again.
    public func delayReplies(by delay: Duration) { replyDelay.store(Int(delay / .milliseconds(1)), ordering: .relaxed) }

    public func close() {
        closed.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    deinit { if !closed.load(ordering: .relaxed) { close() } }

    func acceptLoop() {
        while !closed.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            let connected = Loopback.connect(upstream, port: target)
            guard connected == 0 else { Glibc.close(client); Glibc.close(upstream); continue }
            let proxy = self
            Thread.detachNewThread { proxy.pump(from: client, to: upstream, replies: false) }
            Thread.detachNewThread { proxy.pump(from: upstream, to: client, replies: true) }
        }
    }

    /// Forwards bytes until either side closes; while cut, reads and drops them.
    func pump(from source: Int32, to destination: Int32, replies: Bool) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = recv(source, &buffer, buffer.count, 0)
            if count <= 0 { break }
            if cutFlag.load(ordering: .relaxed) { continue }
            if replies, case let delay = replyDelay.load(ordering: .relaxed), delay > 0 { usleep(useconds_t(delay * 1000)) }
            var sent = 0
            while sent < count {
                let written = buffer[sent..<count].withUnsafeBytes { send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if written <= 0 { break }
                sent += written
            }
        }
        shutdown(destination, Int32(SHUT_RDWR))
        shutdown(source, Int32(SHUT_RDWR))
        Glibc.close(source)
    }
}
