import Hummingbird

/// `GET /openapi.json`: the document rendered from `APIDocument.operations`.
struct OpenAPIController<Context: RequestContext>: Sendable {
    func register(on router: RouterGroup<Context>) {
        router.get("/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "public, max-age=300"],
                body: .init(byteBuffer: ByteBuffer(string: APIDocument.json)))
        }
    }
}
