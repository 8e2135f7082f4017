import Foundation
import HTTPTypes
import Hummingbird
import MarketplaceCore

/// A small stand-in for Nango's Connect UI: pick an integration, "authorize", and the connection exists.
/// It ends as Nango's OAuth callback page does (a message to the opener, no redirect). As a demo
/// convenience only, a `return_to` URL sends the browser on afterwards; Nango itself never redirects.
struct ConnectUI<Context: RequestContext>: Sendable {
    let state: EmulatorState
    let webhooks: WebhookSender
    let environment: String

    func register(on router: Router<Context>) {
        router.get("/connect", use: page)
        router.post("/connect/complete", use: complete)
    }

    @Sendable func page(_ request: Request, context: Context) async throws -> Response {
        let token = request.uri.queryParameters["session_token"].map(String.init) ?? ""
        guard let session = await state.session(token) else {
            return html("<h1>Session expired</h1><p>This connect link is invalid or has expired.</p>", status: .badRequest)
        }
        let returnTo = request.uri.queryParameters["return_to"].map(String.init) ?? ""
        let choices = (session.allowedIntegrations ?? Integration.all.map(\.key)).map { key in
            """
            <form method="post" action="/connect/complete">
              <input type="hidden" name="session_token" value="\(escape(token))">
              <input type="hidden" name="integration" value="\(escape(key))">
              <input type="hidden" name="return_to" value="\(escape(returnTo))">
              <button type="submit">Connect \(escape(key))</button>
            </form>
            """
        }.joined(separator: "\n")
        return html("<h1>Connect an account</h1><p>Nango emulator: choosing an integration authorizes it at once.</p>\n\(choices)")
    }

    @Sendable func complete(_ request: Request, context: Context) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 1 << 16)
        var components = URLComponents()
        components.percentEncodedQuery = String(decoding: buffer.readableBytesView, as: UTF8.self).replacingOccurrences(of: "+", with: "%20")
        let fields = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }) { first, _ in first }
        guard let token = fields["session_token"], let session = await state.session(token),
            let key = fields["integration"], let integration = Integration.named(key),
            session.allowedIntegrations?.contains(key) ?? true
        else {
            return callbackPage(success: false, connectionId: nil, integration: fields["integration"], returnTo: nil)
        }
        // A reconnect session re-authorises its connection (Nango's `override`); any other makes a new one.
        let (connection, created) = await state.createConnection(
            integration: integration, connectionId: session.reconnecting ?? UUID().lowercasedString, tags: session.tags,
            endUser: session.endUser)
        await webhooks.send(WebhookPayloads.auth(connection, operation: created ? "creation" : "override", success: true, environment: environment))
        let returnTo = fields["return_to"].flatMap { $0.isEmpty ? nil : $0 }
        return callbackPage(success: true, connectionId: connection.connectionId, integration: key, returnTo: returnTo)
    }

    /// Nango's callback page: posts to the opener and the `nango-oauth-callback` channel, then closes.
    func callbackPage(success: Bool, connectionId: String?, integration: String?, returnTo: String?) -> Response {
        let message = success
            ? #"{type:"nango_oauth_callback_success"}"#
            : #"{type:"nango_oauth_callback_error",payload:{message:"Authorization failed",errorType:"connection_test_failed"}}"#
        var script = """
            const message = \(message);
            if (window.opener) { window.opener.postMessage(message, "*"); }
            try { new BroadcastChannel("nango-oauth-callback").postMessage(message); } catch (e) {}
            """
        if success, let returnTo, var target = URLComponents(string: returnTo), let connectionId, let integration {
            // Emulator-only demo convenience, not part of Nango: continue to the app's callback.
            target.queryItems = (target.queryItems ?? []) + [URLQueryItem(name: "connection_id", value: connectionId),
                                                              URLQueryItem(name: "integration_id", value: integration)]
            script += "\nsetTimeout(() => { window.location.href = \(jsString(target.string ?? returnTo)); }, 300);"
        } else if success {
            script += "\nsetTimeout(() => window.close(), 500);"
        }
        let text = success ? "Connected \(escape(integration ?? "")) (connection \(escape(connectionId ?? "")))." : "Authorization failed."
        return html("<p id=\"result\" data-connection-id=\"\(escape(connectionId ?? ""))\">\(text)</p><script>\(script)</script>",
                    status: success ? .ok : .badRequest)
    }

    func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: "<!doctype html><html><head><meta charset=\"utf-8\"><title>Nango emulator</title></head><body>\(body)</body></html>")))
    }

    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    func jsString(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let data = (try? encoder.encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "<", with: "\\u003c")
    }
}
