import Foundation
import NIOCore
import NIOHTTP1
// Linked through AsyncHTTPClient; the only way to a server bootstrap.
import NIOPosix
import Synchronization

/// The outbound webhooks' local receiver: a bare SwiftNIO HTTP/1.1 server inside `marketplace-bench` that answers every
/// request with an empty 200 as soon as its body has arrived, and counts what it got. The deliveries are measured
/// against wrk posting the same bodies to this same server (its ceiling), so it must cost as little as a server can:
/// no routing, no parsing of the body, and only while a marker is watched is a body kept (to find the marker in it).
final class Receiver: Sendable {
    /// What arrived, under one lock.
    struct State {
        var requests = 0
        var bytes = 0
        /// Arrival of the first and the last request (seconds since 1970, this machine's clock).
        var first: Double?
        var last: Double?
        /// The last request's headers: what a delivery sends, for wrk to send the same.
        var lastHeaders = HTTPHeaders()
        /// Markers looked for in the bodies, and when the first body carrying each arrived.
        var watched: [String: Double?] = [:]
    }

    let port: Int
    private let record: Record
    private let channel: any Channel

    var url: String { "http://127.0.0.1:\(port)/hooks" }

    private init(port: Int, record: Record, channel: any Channel) {
        self.port = port
        self.record = record
        self.channel = channel
    }

    /// Listens on 127.0.0.1:`port`.
    static func start(port: Int) async throws -> Receiver {
        let record = Record()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(Handler(record: record))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        return Receiver(port: port, record: record, channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }

    /// What arrived so far.
    var state: State { record.state.withLock { $0 } }

    /// Forgets what arrived (markers watched stay).
    func reset() {
        record.state.withLock { state in state = State(watched: state.watched) }
    }

    /// Starts looking for `marker` in the bodies that arrive from now on.
    func watch(_ marker: String) {
        record.state.withLock { $0.watched[marker] = .some(nil) }
    }

    /// When the first body carrying `marker` (watched before) arrived; fails after `limit`. Polls this process's own
    /// state: the arrival time is taken by the handler, so the polling never adds to it.
    func arrival(of marker: String, limit: Duration = .seconds(30)) async throws -> Double {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let found = record.state.withLock { state -> Double? in
                guard let found = state.watched[marker] ?? nil else { return nil }
                state.watched[marker] = nil
                return found
            }
            if let found { return found }
            try await Task.sleep(for: .milliseconds(2))
        }
        record.state.withLock { $0.watched[marker] = nil }
        throw BenchFailure("the receiver got no message carrying \(marker) in \(limit)")
    }

    /// The state the handlers of every connection write.
    private final class Record: Sendable {
        let state = Mutex(State())

        var watching: Bool { state.withLock { !$0.watched.isEmpty } }

        /// One request arrived whole (its body kept only while markers are watched).
        func received(bytes: Int, headers: HTTPHeaders, body: ByteBuffer?) {
            let now = Date().timeIntervalSince1970
            let text = body.map { String(buffer: $0) }
            state.withLock { state in
                state.requests += 1
                state.bytes += bytes
                if state.first == nil { state.first = now }
                state.last = now
                state.lastHeaders = headers
                guard let text else { return }
                for (marker, found) in state.watched where found == nil && text.contains(marker) { state.watched[marker] = now }
            }
        }
    }

    /// One connection's requests: each answered 200 with no body once it has arrived whole.
    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let record: Record
        var head: HTTPRequestHead?
        var bytes = 0
        var body: ByteBuffer?

        init(record: Record) { self.record = record }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                bytes = 0
                body = record.watching ? context.channel.allocator.buffer(capacity: 1024) : nil
            case .body(var chunk):
                bytes += chunk.readableBytes
                body?.writeBuffer(&chunk)
            case .end:
                let keepAlive = head?.isKeepAlive ?? false
                record.received(bytes: bytes, headers: head?.headers ?? [:], body: body)
                (head, body) = (nil, nil)
                var headers = HTTPHeaders()
                headers.add(name: "content-length", value: "0")
                if !keepAlive { headers.add(name: "connection", value: "close") }
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                if keepAlive {
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                } else {
                    let channel = context.channel
                    context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
                }
            }
        }
    }
}
