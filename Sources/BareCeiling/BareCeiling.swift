import Hummingbird

/// `bare-ceiling PORT`: the Hummingbird version the service uses, one route, no middleware. `make bench` loads it
/// with the same `wrk` settings as the service, so every HTTP figure has the framework's own ceiling beside it.
@main
struct BareCeiling {
    static func main() async throws {
        let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 18099
        let router = Router()
        router.get("/health") { _, _ in "ok" }
        let application = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await application.runService()
    }
}
