import Glibc

/// A TCP port free right now on 127.0.0.1, for a server whose address another process must know before it starts.
/// Chosen below Linux's ephemeral range (32768–60999), so servers that other tests bind to port 0 cannot take it
/// between this check and the bind.
public enum FreePort {
    public static func next() -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 10_000...19_999)
            if isFree(port) { return port }
        }
        fatalError("no free port in 10000–19999")
    }

    static func isFree(_ port: Int) -> Bool {
        onLoopback(port) { socket, address, length in bind(socket, address, length) == 0 }
    }

    /// Whether something accepts connections on 127.0.0.1:`port` now (a refused connect on loopback answers at once).
    public static func isListening(_ port: Int) -> Bool {
        onLoopback(port) { socket, address, length in connect(socket, address, length) == 0 }
    }

    /// A fresh TCP socket and 127.0.0.1:`port` as a `sockaddr`, for one call (`bind`, `connect`); the socket is closed after.
    static func onLoopback(_ port: Int, _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        return Loopback.with(port) { call(socket, $0, $1) }
    }
}
