import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// In front of every console page but sign-in and assets: the session cookie must name a live session (else a
/// page redirects to sign-in and anything else gets 401). Every other method than GET must come from our own
/// origin, carry the session's CSRF token (form field `csrf` or `X-CSRF-Token`), and be the admin's.
struct ConsoleSessionMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let sessions: ConsoleSessions
    let bodyLimit: Int
    /// Hosts our pages are served from besides the request's own: `PUBLIC_URL`'s (a proxy may rewrite `Host`).
    let publicHosts: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        guard let cookie = request.cookies[ConsoleSessions.cookieName]?.value,
            let session = try await sessions.session(cookie: cookie, logger: context.logger)
        else {
            if request.method == .get, request.headers[.accept]?.contains("text/event-stream") != true {
                let target = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                return .redirect(to: "/console/sign-in?next=" + (target.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
            }
            throw APIError(.unauthorized, code: "signed_out", message: "sign in to the console first")
        }
        context.consoleSession = session
        guard request.method != .get, request.method != .head else { return try await next(request, context) }

        try Self.checkOrigin(request, publicHosts: publicHosts)
        var request = request
        let presented: String?
        if let header = request.headers[.csrfToken] {
            presented = header
        } else {
            presented = try await ConsoleForm.fields(&request, limit: bodyLimit)["csrf"]
        }
        guard let presented, AdminTokenMiddleware<Context>.matches(presented, session.csrfToken) else {
            throw APIError(.forbidden, code: "csrf", message: "this action lacks the page's CSRF token; reload the page and try again")
        }
        guard session.canAct || Self.viewerPosts.contains(request.uri.path) else {
            throw APIError(.forbidden, code: "read_only", message: "the viewer role sees everything and changes nothing")
        }
        return try await next(request, context)
    }

    /// What a viewer may post: a dry run (it writes nothing) and its own sign-out.
    static let viewerPosts: Set<String> = ["/console/pipelines/dry-run", "/console/sign-out"]

    /// A browser names the page a form came from in `Origin`; one from another site is refused even with a token.
    static func checkOrigin(_ request: Request, publicHosts: Set<String>) throws {
        guard let origin = request.headers[.origin], origin != "null" else { return }
        let served = [request.head.authority, request.headers[.xForwardedHost]].compactMap { $0 }.map(Self.hostOnly)
        guard let host = URLComponents(string: origin)?.host, served.contains(host) || publicHosts.contains(host) else {
            throw APIError(.forbidden, code: "cross_origin", message: "console actions are accepted from the console's own pages only")
        }
    }
}

extension ConsoleSessionMiddleware {
    /// `example.com:8080` → `example.com` (an IPv6 literal keeps its brackets off, as URLComponents gives hosts).
    static func hostOnly(_ authority: String) -> String {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            return String(authority[authority.index(after: authority.startIndex)..<close])
        }
        return String(authority.split(separator: ":", maxSplits: 1).first ?? "")
    }
}

/// A console form's fields (`application/x-www-form-urlencoded`); the body is kept for the handler to read again.
enum ConsoleForm {
    static func fields(_ request: inout Request, limit: Int) async throws -> [String: String] {
        let body = try await request.collectBody(upTo: limit)
        let text = String(buffer: body)
        guard !text.isEmpty else { return [:] }
        do {
            return try URLEncodedFormDecoder().decode([String: String].self, from: text)
        } catch {
            throw APIError(.badRequest, code: "invalid_form", message: "the form's fields could not be read")
        }
    }
}

extension HTTPField.Name {
    static let csrfToken = Self("X-CSRF-Token")!
    static let xForwardedHost = Self("X-Forwarded-Host")!
}
