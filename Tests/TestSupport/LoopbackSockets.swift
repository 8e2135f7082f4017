import Foundation

/// What the kernel knows about TCP on 127.0.0.1 (Linux's /proc/net/tcp): a test waits for a server to have
/// accepted and read a connection, or to have stopped listening, instead of sleeping and hoping it has.
public enum LoopbackSockets {
    struct Entry {
        var localPort: Int
        var remotePort: Int
        /// The kernel's TCP state: 0x01 established, 0x0A listening.
        var state: Int
        /// Bytes received and not yet read by the socket's owner (for a listener: connections not yet accepted).
        var unread: Int
    }

    /// Read to its end with read(2): the kernel hands the table out a page at a time, and a reader that takes the
    /// first short read for the end (or trusts its size, 0) sees only the first few dozen sockets.
    static func table() -> String {
        let fd = open("/proc/net/tcp", O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func entries() -> [Entry] {
        table().split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4,
                  let local = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }),
                  let remote = fields[2].split(separator: ":").last.flatMap({ Int($0, radix: 16) }),
                  let state = Int(fields[3], radix: 16),
                  let unread = fields[4].split(separator: ":").last.flatMap({ Int($0, radix: 16) })
            else { return nil }
            return Entry(localPort: local, remotePort: remote, state: state, unread: unread)
        }
    }

    /// The sockets on `port`, for a failure's message: "local remote state unread" each.
    public static func describe(port: Int) -> String {
        entries().filter { $0.localPort == port || $0.remotePort == port }
            .map { "\($0.localPort) \($0.remotePort) \(String($0.state, radix: 16)) \($0.unread)" }.joined(separator: "; ")
    }

    public static func isListening(port: Int) -> Bool {
        entries().contains { $0.localPort == port && $0.state == 0x0A }
    }

    /// The server on `port` has accepted the connection from `clientPort` and read all it was sent.
    public static func serverHasRead(port: Int, from clientPort: Int) -> Bool {
        let listener = entries().first { $0.localPort == port && $0.state == 0x0A }
        let served = entries().first { $0.localPort == port && $0.remotePort == clientPort && $0.state == 0x01 }
        return listener?.unread == 0 && served?.unread == 0
    }

    /// Polls `condition` for up to `timeout`; returns whether it held.
    public static func until(timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}

/// A client that connects, sends its bytes and then says nothing more, until closed: a stuck caller.
public final class QuietConnection: Sendable {
    private let socket: Int32
    /// The client's own port: what names this connection in ``LoopbackSockets``.
    public let localPort: Int

    public init(port: Int, sending bytes: [UInt8]) throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawClient.SocketError(step: "socket") }
        let connected = Loopback.connect(fd, port: port)
        var own = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &own) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard connected == 0, named == 0, sent == bytes.count else {
            Glibc.close(fd)
            throw RawClient.SocketError(step: "connect and send")
        }
        socket = fd
        localPort = Int(UInt16(bigEndian: own.sin_port))
    }

    public func close() {
        Glibc.close(socket)
    }
}
