import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// The console's templates (Mustache, HTML-escaped by default) and static assets, read once from the executable's
/// resources at start.
struct ConsoleRenderer: Sendable {
    struct Asset: Sendable {
        let bytes: ByteBuffer
        let contentType: String
    }

    let library: MustacheLibrary
    let assets: [String: Asset]

    static func load() async throws -> ConsoleRenderer {
        guard let resources = Bundle.module.resourceURL else { throw ConsoleResourceError(path: "(bundle)") }
        let templates = resources.appendingPathComponent("Templates").path
        let library: MustacheLibrary
        do {
            library = try await MustacheLibrary(directory: templates)
        } catch {
            throw ConsoleResourceError(path: templates)
        }
        var assets: [String: Asset] = [:]
        let folder = resources.appendingPathComponent("Assets")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let data = try Data(contentsOf: folder.appendingPathComponent(name))
            let type = name.hasSuffix(".css") ? "text/css; charset=utf-8"
                : name.hasSuffix(".js") ? "text/javascript; charset=utf-8"
                : name.hasSuffix(".svg") ? "image/svg+xml" : "application/octet-stream"
            assets[name] = Asset(bytes: ByteBuffer(bytes: data), contentType: type)
        }
        return ConsoleRenderer(library: library, assets: assets)
    }

    /// A page: its template rendered with `context`, never cached, framed only by itself.
    func page(_ template: String, _ context: Any, status: HTTPResponse.Status = .ok) -> Response {
        let html = library.render(context, withTemplate: template) ?? "template \(template) is missing"
        var headers = Self.pageHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// Only our own scripts, styles and connections; no inline script, no framing, forms post only to us.
    static var pageHeaders: HTTPFields {
        [
            .contentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            .cacheControl: "no-store",
        ]
    }
}

struct ConsoleResourceError: Error, CustomStringConvertible {
    let path: String
    var description: String { "the console's templates could not be read from \(path)" }
}
