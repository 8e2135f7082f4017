import Foundation
import MarketplaceCore

/// `GET /connection/{connectionId}`: a connection with its credentials (docs/nango.md §2.5).
/// Decoding is tolerant: only what the service relies on is required.
public struct NangoConnection: Codable, Sendable, Equatable {
    public var id: Int?
    public var connectionId: String
    public var providerConfigKey: String
    public var provider: String
    public var errors: [NangoConnectionError]?
    public var endUser: JSONValue?
    public var tags: [String: String]?
    public var metadata: JSONValue?
    public var connectionConfig: [String: JSONValue]?
    public var createdAt: String?
    public var updatedAt: String?
    public var lastFetchedAt: String?
    /// Nil when Nango answered `{}`: the API key lacks the `environment:connections:read_credentials` scope
    /// (docs/nango.md §2.5). Records need no token, so the connection is usable all the same.
    public var credentials: NangoCredentials?

    enum CodingKeys: String, CodingKey {
        case id, provider, errors, tags, metadata, credentials
        case connectionId = "connection_id"
        case providerConfigKey = "provider_config_key"
        case endUser = "end_user"
        case connectionConfig = "connection_config"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case lastFetchedAt = "last_fetched_at"
    }

    public init(
        id: Int?, connectionId: String, providerConfigKey: String, provider: String, tags: [String: String]? = nil,
        connectionConfig: [String: JSONValue]? = nil, createdAt: String? = nil, updatedAt: String? = nil,
        credentials: NangoCredentials?
    ) {
        self.id = id
        self.connectionId = connectionId
        self.providerConfigKey = providerConfigKey
        self.provider = provider
        self.errors = []
        self.tags = tags
        self.connectionConfig = connectionConfig
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.credentials = credentials
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(Int.self, forKey: .id)
        connectionId = try container.decode(String.self, forKey: .connectionId)
        providerConfigKey = try container.decode(String.self, forKey: .providerConfigKey)
        provider = try container.decode(String.self, forKey: .provider)
        errors = try container.decodeIfPresent([NangoConnectionError].self, forKey: .errors)
        endUser = try container.decodeIfPresent(JSONValue.self, forKey: .endUser)
        tags = try container.decodeIfPresent([String: String].self, forKey: .tags)
        metadata = try container.decodeIfPresent(JSONValue.self, forKey: .metadata)
        connectionConfig = try container.decodeIfPresent([String: JSONValue].self, forKey: .connectionConfig)
        createdAt = try container.decodeIfPresent(String.self, forKey: .createdAt)
        updatedAt = try container.decodeIfPresent(String.self, forKey: .updatedAt)
        lastFetchedAt = try container.decodeIfPresent(String.self, forKey: .lastFetchedAt)
        let raw = try container.decodeIfPresent(JSONValue.self, forKey: .credentials)
        if case .object(let object)? = raw, object.isEmpty {
            credentials = nil
        } else {
            credentials = try container.decodeIfPresent(NangoCredentials.self, forKey: .credentials)
        }
    }
}

public struct NangoConnectionError: Codable, Sendable, Equatable {
    public var type: String
    public var logId: String?

    enum CodingKeys: String, CodingKey {
        case type
        case logId = "log_id"
    }
}

/// The credentials object; its fields depend on `type` (OAUTH2, API_KEY, BASIC, …).
/// `description` never shows a token.
public struct NangoCredentials: Codable, Sendable, Equatable, CustomStringConvertible {
    public var type: String
    public var accessToken: String?
    public var refreshToken: String?
    /// ISO 8601 (`toISOString()`, `Z`).
    public var expiresAt: String?
    public var apiKey: String?
    public var raw: JSONValue?

    enum CodingKeys: String, CodingKey {
        case type, raw
        case accessToken = "access_token"
        case refreshToken = "refresh_token"
        case expiresAt = "expires_at"
        case apiKey
    }

    public init(type: String, accessToken: String? = nil, refreshToken: String? = nil, expiresAt: String? = nil, raw: JSONValue? = nil) {
        self.type = type
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresAt = expiresAt
        self.raw = raw
    }

    public var expiryDate: Date? {
        expiresAt.flatMap { try? Date($0, strategy: .iso8601) }
            ?? expiresAt.flatMap { try? Date($0, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) }
    }

    public var description: String {
        "NangoCredentials(type: \(type), access_token: \(accessToken == nil ? "nil" : "••••"), "
            + "refresh_token: \(refreshToken == nil ? "nil" : "••••"), expires_at: \(expiresAt ?? "nil"))"
    }
}

/// `GET /connection`: the list form (docs/nango.md §2.6).
public struct NangoConnectionList: Codable, Sendable, Equatable {
    public struct Item: Codable, Sendable, Equatable {
        public var id: Int?
        public var connectionId: String
        public var providerConfigKey: String
        public var provider: String
        public var created: String?

        enum CodingKeys: String, CodingKey {
            case id, provider, created
            case connectionId = "connection_id"
            case providerConfigKey = "provider_config_key"
        }
    }
    public var connections: [Item]
}
