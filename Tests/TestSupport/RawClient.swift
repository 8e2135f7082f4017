import Foundation

/// A blocking socket client on a thread of its own: it writes everything before reading, as most synchronous HTTP
/// clients do, then reads until the server answers and closes, or `timeout` passes.
public enum RawClient {
    public struct Exchange: Sendable {
        public var answer: String
        public var closed: Bool
        public var seconds: Double

        /// The status code of the answer's first line, if one came.
        public var status: Int? {
            let line = answer.prefix { $0 != "\r" }.split(separator: " ")
            return line.count > 1 ? Int(line[1]) : nil
        }
    }

    public static func exchange(port: Int, send bytes: [UInt8], timeout: Int) async throws -> Exchange {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Swift.Result { try run(port: port, bytes: bytes, timeout: timeout) })
            }
        }
    }

    /// The status of `GET path`, or nil when nothing answered (refused, closed, or silent past `timeout`).
    public static func status(port: Int, path: String, timeout: Int = 2) async -> Int? {
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        return (try? await exchange(port: port, send: Array(request.utf8), timeout: timeout))?.status
    }

    public struct SocketError: Error { let step: String }

    static func run(port: Int, bytes: [UInt8], timeout: Int) throws -> Exchange {
        let start = Date()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(step: "socket") }
        defer { close(fd) }
        let connected = Loopback.connect(fd, port: port)
        guard connected == 0 else { throw SocketError(step: "connect") }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { break }
            sent += count
        }
        var received: [UInt8] = []
        var closed = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date().timeIntervalSince(start) < Double(timeout) {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { closed = true; break }
            if count < 0 { break }
            received += buffer[0..<count]
            if String(decoding: received, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        return Exchange(answer: String(decoding: received, as: UTF8.self), closed: closed, seconds: Date().timeIntervalSince(start))
    }
}
