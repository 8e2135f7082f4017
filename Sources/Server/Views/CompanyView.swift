import MarketplaceCore
import Foundation
import Storage

/// A company as the API returns it (never with tokens); ids lower-case, as Postgres prints them and tokens carry them.
struct CompanyView: Encodable {
    let id: String
    let connection_id: String
    let integration_id: String
    let provider: String
    let external_id: String?
    let name: String?
    let status: String
    let created_at: Date
    let updated_at: Date

    init(_ company: CompanyRecord) {
        (id, connection_id, integration_id) = (company.id.lowercasedString, company.connectionId, company.integrationId)
        (provider, external_id, name, status) = (company.provider, company.externalId, company.name, company.status.rawValue)
        (created_at, updated_at) = (company.createdAt, company.updatedAt)
    }

    // The optionals are written as null, as the OpenAPI schema says, not left out.
    enum CodingKeys: CodingKey { case id, connection_id, integration_id, provider, external_id, name, status, created_at, updated_at }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(connection_id, forKey: .connection_id)
        try container.encode(integration_id, forKey: .integration_id)
        try container.encode(provider, forKey: .provider)
        try container.encode(external_id, forKey: .external_id)
        try container.encode(name, forKey: .name)
        try container.encode(status, forKey: .status)
        try container.encode(created_at, forKey: .created_at)
        try container.encode(updated_at, forKey: .updated_at)
    }
}
