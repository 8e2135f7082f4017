import Foundation

/// 127.0.0.1 and a port, as the socket calls of the tests' and the bench's own clients, proxies and port probes take it.
public enum Loopback {
    public static func address(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// `call` (`bind`, `connect`) given 127.0.0.1:`port` as a `sockaddr` and its length.
    public static func with<Result>(_ port: Int, _ call: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        var address = address(port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// A blocking connect of `socket` to 127.0.0.1:`port`: 0 when connected.
    public static func connect(_ socket: Int32, port: Int) -> Int32 { with(port) { Glibc.connect(socket, $0, $1) } }
}
