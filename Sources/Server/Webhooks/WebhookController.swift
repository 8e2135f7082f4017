import HTTPTypes
import Hummingbird
import Ingest
import Logging

/// `POST /webhooks/nango`: raw bytes in, stored (or refused) before the answer goes out.
struct WebhookController<Context: RequestContext>: Sendable {
    let intake: WebhookIntake
    let bodyLimit: Int

    func register(on router: Router<Context>) {
        router.post("/webhooks/nango") { request, context -> Response in
            // The body limit middleware has already refused anything declared larger.
            let body = try await request.body.collect(upTo: bodyLimit)
            let outcome = try await intake.receive(
                body: Array(body.readableBytesView),
                hmacHeader: request.headers[.nangoHmac], legacyHeader: request.headers[.nangoSignature],
                logger: context.logger)
            let status: String
            switch outcome {
            case .stored: status = "stored"
            case .duplicate: status = "duplicate"
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"\#(status)"}"#)))
        }
    }
}

extension HTTPField.Name {
    static let nangoHmac = Self("X-Nango-Hmac-Sha256")!
    static let nangoSignature = Self("X-Nango-Signature")!
}
