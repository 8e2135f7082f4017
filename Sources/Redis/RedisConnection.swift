import CHiredis
import DequeModule
import NIOCore
import NIOPosix
import Synchronization

/// One Redis connection on a SwiftNIO channel, shared by every caller at once: commands are written as
/// they come and replies, which Redis sends in order, are matched to them in order (pipelining). Replies
/// are parsed by hiredis' reader. No thread blocks: a caller waits on a future, not on a socket.
final class RedisConnection: Sendable {
    struct Settings: Sendable {
        var host: String
        var port: Int
        var password: String?
        var database: Int
        var connectTimeout: Duration
        var commandTimeout: Duration
    }

    let channel: any Channel
    private let inFlight = Atomic<Int>(0)

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func open(_ settings: Settings, group: any EventLoopGroup) async throws(RedisError) -> RedisConnection {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(Int64(settings.connectTimeout / .nanoseconds(1))))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RedisReplyHandler()) }
                }
                .connect(host: settings.host, port: settings.port)
                .get()
        } catch {
            throw .connectionFailed(String(describing: error))
        }
        let connection = RedisConnection(channel: channel)
        var setup: [[RedisArgument]] = []
        if let password = settings.password { setup.append(["AUTH", RedisArgument(password)]) }
        if settings.database != 0 { setup.append(["SELECT", RedisArgument(settings.database)]) }
        if !setup.isEmpty {
            let replies: [RedisValue]
            do {
                replies = try await connection.execute(setup, timeout: settings.connectTimeout)
            } catch {
                connection.close()
                throw .connectionFailed(error.description)
            }
            for case .error(let message) in replies {
                connection.close()
                throw .connectionFailed(message)
            }
        }
        return connection
    }

    var isActive: Bool { channel.isActive }
    /// Commands written and not yet answered.
    var pending: Int { inFlight.load(ordering: .relaxed) }

    /// Writes the commands together and returns their replies in order. A timed-out call fails alone: its late
    /// reply is read and dropped in its turn, so the callers pipelined behind it still get theirs; only a reply
    /// that never comes (``RedisReplyHandler/abandonedLimit`` after its timeout) closes the connection.
    func execute(_ commands: [[RedisArgument]], timeout: Duration) async throws(RedisError) -> [RedisValue] {
        var bytes = channel.allocator.buffer(capacity: commands.reduce(0) { $0 + 16 + $1.reduce(0) { $0 + $1.bytes.count + 16 } })
        for command in commands { Self.encode(command, into: &bytes) }
        let promise = channel.eventLoop.makePromise(of: [RedisValue].self)
        let request = RedisReplyHandler.Request(
            bytes: bytes, commands: commands.count, promise: promise,
            timeout: .nanoseconds(Int64(timeout / .nanoseconds(1))))
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in promise.fail(RedisError.connectionLost(String(describing: error))) }
        channel.writeAndFlush(request, promise: written)
        do {
            return try await promise.futureResult.get()
        } catch let error as RedisError {
            throw error
        } catch {
            throw .connectionLost(String(describing: error))
        }
    }

    func close() {
        channel.close(promise: nil)
    }

    /// RESP: `*<words>\r\n` then `$<length>\r\n<bytes>\r\n` per word.
    static func encode(_ command: [RedisArgument], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(command.count)\r\n")
        for word in command {
            buffer.writeString("$\(word.bytes.count)\r\n")
            buffer.writeBytes(word.bytes)
            buffer.writeStaticString("\r\n")
        }
    }
}

/// Matches replies to requests in order; lives on the channel's event loop.
final class RedisReplyHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Request
    typealias OutboundOut = ByteBuffer

    struct Request: Sendable {
        var bytes: ByteBuffer
        var commands: Int
        var promise: EventLoopPromise<[RedisValue]>
        var timeout: TimeAmount
    }

    private struct Waiting {
        var id: UInt64
        var remaining: Int
        var replies: [RedisValue]
        var promise: EventLoopPromise<[RedisValue]>
        var deadline: Scheduled<Void>?
        /// Its caller gave up (timed out): the replies are still read, in order, and dropped.
        var abandoned = false
    }

    /// How long after its caller gave up a reply may still come before the connection is taken for stuck and closed.
    static let abandonedLimit = TimeAmount.seconds(10)

    private let reader: UnsafeMutablePointer<redisReader>
    private var waiting: Deque<Waiting> = []
    private var nextID: UInt64 = 0

    init() {
        reader = redisReaderCreate()
    }

    deinit { redisReaderFree(reader) }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        let id = nextID
        nextID &+= 1
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let deadline = context.eventLoop.scheduleTask(in: request.timeout) {
            let (handler, context) = loopBound.value
            handler.timedOut(id, context: context)
        }
        waiting.append(Waiting(id: id, remaining: request.commands, replies: [], promise: request.promise, deadline: deadline))
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let fed = buffer.withUnsafeReadableBytes { raw in
            redisReaderFeed(reader, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
        }
        guard fed == REDIS_OK else { return failAll(.connectionLost("unreadable reply"), context: context) }
        while true {
            var reply: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &reply) == REDIS_OK else {
                return failAll(.connectionLost("malformed reply"), context: context)
            }
            guard let reply else { return }
            let value = Self.value(reply.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(reply)
            guard !waiting.isEmpty else { return failAll(.connectionLost("a reply nobody asked for"), context: context) }
            waiting[0].replies.append(value)
            waiting[0].remaining -= 1
            if waiting[0].remaining == 0 {
                let done = waiting.removeFirst()
                done.deadline?.cancel()
                if !done.abandoned { done.promise.succeed(done.replies) }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionLost("closed by the server"), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(.connectionLost(String(describing: error)), context: context)
    }

    /// The caller is told at once; the entry stays in line for its late reply. Should even that not come, the
    /// connection is stuck: everyone on it fails and it closes (the pool opens another).
    private func timedOut(_ id: UInt64, context: ChannelHandlerContext) {
        guard let index = waiting.firstIndex(where: { $0.id == id }), !waiting[index].abandoned else {
            if waiting.contains(where: { $0.id == id }) {
                failAll(.connectionLost("closed: a reply did not come \(Self.abandonedLimit) after its caller gave up"), context: context)
            }
            return
        }
        waiting[index].abandoned = true
        waiting[index].promise.fail(RedisError.timeout)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        waiting[index].deadline = context.eventLoop.scheduleTask(in: Self.abandonedLimit) {
            let (handler, context) = loopBound.value
            handler.timedOut(id, context: context)
        }
    }

    private func failAll(_ error: RedisError, context: ChannelHandlerContext) {
        let failed = waiting
        waiting.removeAll()
        for entry in failed {
            entry.deadline?.cancel()
            if !entry.abandoned { entry.promise.fail(error) }
        }
        context.close(promise: nil)
    }

    static func value(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            return .bulk(node.str == nil ? [] : Array(UnsafeRawBufferPointer(start: node.str, count: node.len)))
        case REDIS_REPLY_STATUS:
            return .status(text(node))
        case REDIS_REPLY_ERROR:
            return .error(text(node))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(node.integer))
        case REDIS_REPLY_ARRAY:
            return .array((0..<node.elements).map { value(node.element[$0]!) })
        default:
            return .null
        }
    }

    private static func text(_ node: redisReply) -> String {
        guard let pointer = node.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: node.len), as: UTF8.self)
    }
}
