import Foundation
import HTTPTypes
import Hummingbird

/// The one error shape every failing request answers with:
/// `{"error": {"code": "...", "message": "...", "request_id": "..."}}`.
struct APIError: HTTPResponseError, Sendable, Equatable {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    static let notFound = APIError(.notFound, code: "not_found", message: "no such resource")
    static let internalError = APIError(.internalServerError, code: "internal_error", message: "internal error")
    static func payloadTooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, code: "payload_too_large", message: "request body exceeds \(limit) bytes")
    }

    private struct Body: Encodable {
        struct Detail: Encodable {
            let code: String
            let message: String
            let request_id: String
        }
        let error: Detail
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = Body(error: .init(code: code, message: message, request_id: context.id))
        let data = try JSONEncoder().encode(body)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
