#if canImport(Glibc)
import Glibc
#endif
import CHiredis
import Synchronization

/// One hiredis connection in blocking mode. Every method blocks the calling thread for at most the
/// command timeout, so ``RedisClient`` calls them only on its own thread pool, never on an event loop.
final class RedisConnection: Sendable {
    private let context: Mutex<UnsafeMutablePointer<redisContext>?>

    private init(context: sending UnsafeMutablePointer<redisContext>) {
        self.context = Mutex(context)
    }

    struct Settings: Sendable {
        var host: String
        var port: Int
        var password: String?
        var database: Int
        var connectTimeout: Duration
        var commandTimeout: Duration
    }

    static func open(_ settings: Settings) throws(RedisError) -> RedisConnection {
        guard let context = redisConnectWithTimeout(settings.host, Int32(settings.port), timeval(settings.connectTimeout)) else {
            throw .connectionFailed("out of memory")
        }
        if context.pointee.err != 0 {
            let reason = errorText(context)
            redisFree(context)
            throw .connectionFailed(reason)
        }
        redisSetTimeout(context, timeval(settings.commandTimeout))
        let connection = RedisConnection(context: context)
        var setup: [[RedisArgument]] = []
        if let password = settings.password { setup.append(["AUTH", RedisArgument(password)]) }
        if settings.database != 0 { setup.append(["SELECT", RedisArgument(settings.database)]) }
        if !setup.isEmpty {
            let replies: [RedisValue]
            do {
                replies = try connection.execute(setup)
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

    /// Sends every command, then reads every reply: one round trip for the lot.
    func execute(_ commands: [[RedisArgument]]) throws(RedisError) -> [RedisValue] {
        try context.withLock { (context) throws(RedisError) -> [RedisValue] in
            guard let context else { throw .closed }
            for command in commands {
                Self.append(command, to: context)
            }
            var replies: [RedisValue] = []
            replies.reserveCapacity(commands.count)
            for _ in commands {
                var reply: UnsafeMutableRawPointer?
                if redisGetReply(context, &reply) != REDIS_OK || reply == nil {
                    throw Self.failure(context, errno: errno)
                }
                defer { freeReplyObject(reply) }
                replies.append(Self.value(reply!.assumingMemoryBound(to: redisReply.self)))
            }
            return replies
        }
    }

    func close() {
        context.withLock { context in
            if let open = context { redisFree(open) }
            context = nil
        }
    }

    deinit { close() }

    // MARK: hiredis plumbing

    private static func append(_ command: [RedisArgument], to context: UnsafeMutablePointer<redisContext>) {
        // One contiguous buffer of all words; argv points into it.
        let joined = command.flatMap(\.bytes)
        joined.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            var offset = 0
            var argv: [UnsafePointer<CChar>?] = []
            var lengths: [Int] = []
            for word in command {
                argv.append((base + offset).assumingMemoryBound(to: CChar.self))
                lengths.append(word.bytes.count)
                offset += word.bytes.count
            }
            _ = redisAppendCommandArgv(context, Int32(command.count), &argv, &lengths)
        }
    }

    private static func value(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
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

    private static func failure(_ context: UnsafeMutablePointer<redisContext>, errno code: Int32) -> RedisError {
        if context.pointee.err == REDIS_ERR_IO, code == EAGAIN || code == EWOULDBLOCK { return .timeout }
        return .connectionLost(errorText(context))
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}

private func timeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
}
