import Hummingbird
import Query

/// The per-request context: the core storage plus who is asking, once the bearer token is verified.
struct AppRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var principal: Principal?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
