import Tokens
import Hummingbird
import NIOCore
import Query

/// The per-request context: the core storage, the client's address, and who is asking once the bearer
/// token is verified.
struct AppRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var principal: Principal?
    /// The console's signed-in user, once the session cookie is checked.
    var consoleSession: ConsoleSession?
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// The peer's IP (no port): the rate limit's principal when no token names one. Formatted when asked: most
    /// requests never need it.
    var clientAddress: String { channel.remoteAddress?.ipAddress ?? "unknown" }
}
