import HTTPTypes
import MarketplaceCore

/// One operation of the HTTP API as the OpenAPI document describes it. `APIDocument.operations` is the
/// table of them; a test holds it against the router's registered routes, both ways, and holds real
/// responses against these schemas, so the document cannot drift from what the server does.
struct APIOperation: Sendable {
    enum Security: Sendable {
        case none, bearer, admin, nangoSignature
    }

    struct Parameter: Sendable {
        enum Location: String, Sendable { case path, query, header }
        var name: String
        var location: Location
        var description: String
        var schema: JSONValue
        var required: Bool

        static func path(_ name: String, _ description: String, _ schema: JSONValue = APISchemas.string) -> Parameter {
            Parameter(name: name, location: .path, description: description, schema: schema, required: true)
        }
        static func query(_ name: String, _ description: String, _ schema: JSONValue = APISchemas.string, required: Bool = false) -> Parameter {
            Parameter(name: name, location: .query, description: description, schema: schema, required: required)
        }
        static func header(_ name: String, _ description: String, required: Bool = false) -> Parameter {
            Parameter(name: name, location: .header, description: description, schema: APISchemas.string, required: required)
        }
    }

    struct Answer: Sendable {
        var status: Int
        var description: String
        /// The JSON body's schema; nil for an answer without a JSON body.
        var schema: JSONValue?
        var contentType = "application/json"
        var headers: [String: String] = [:]
    }

    var method: HTTPRequest.Method
    /// The path in OpenAPI's form: `/api/companies/{id}`.
    var path: String
    var operationId: String
    var tag: String
    var summary: String
    var security: Security
    var parameters: [Parameter] = []
    var requestBody: JSONValue? = nil
    var answers: [Answer]

    func answer(for status: Int) -> Answer? { answers.first { $0.status == status } }
}

extension APIOperation.Answer {
    static func json(_ status: Int, _ description: String, _ schema: JSONValue, headers: [String: String] = [:]) -> Self {
        Self(status: status, description: description, schema: schema, headers: headers)
    }

    /// An answer in the one error shape.
    static func error(_ status: Int, _ description: String, headers: [String: String] = [:]) -> Self {
        Self(status: status, description: description, schema: APISchemas.ref("Error"), headers: headers)
    }
}
