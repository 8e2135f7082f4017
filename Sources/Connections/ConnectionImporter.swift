import Foundation
import Logging
import MarketplaceCore
import Nango
import Storage

/// Fetches a connection from Nango and stores its company and sealed credentials in one transaction.
/// Used by `exchange`, the OAuth callback and the pipeline's connection jobs.
public struct ConnectionImporter: Sendable {
    let nango: NangoClient
    let database: Database
    let cipher: CredentialCipher

    public init(nango: NangoClient, database: Database, cipher: CredentialCipher) {
        self.nango = nango
        self.database = database
        self.cipher = cipher
    }

    /// The provider's own id for the company, where Nango's connection config carries it.
    static func externalID(_ config: [String: JSONValue]?) -> String? {
        for key in ["realmId", "tenant_id", "tenantId", "portalId", "instance_url", "organizationId"] {
            if let value = config?[key]?.string, !value.isEmpty { return value }
        }
        return nil
    }

    /// `forceRefresh` asks Nango to refresh the token now (the scheduled refresh of tokens about to expire).
    public func fetch(_ identity: ConnectionIdentity, forceRefresh: Bool = false) async throws(NangoError) -> NangoConnection {
        try await nango.connection(identity.connectionId, providerConfigKey: identity.integrationId, forceRefresh: forceRefresh, includeRefreshToken: true)
    }

    /// Stores the connection's company and sealed credentials in one write (fenced by `lease` when a job stores it),
    /// committed with the company's cache version bump.
    public func store(_ connection: NangoConnection, fencedBy lease: JobLease?, logger: Logger) async throws -> CompanyRecord {
        try await database.write(fencedBy: lease, logger: logger) { transaction in
            try await store(connection, in: transaction, logger: logger)
        }
    }

    /// The same, inside the caller's write.
    public func store(_ connection: NangoConnection, in transaction: WriteTransaction, logger: Logger) async throws -> CompanyRecord {
        let sealed = try connection.credentials.map { credentials in
            let access = credentials.accessToken ?? credentials.apiKey ?? ""
            return ConnectionCredentialsTable.Sealed(
                authType: credentials.type, accessToken: try cipher.seal(access),
                refreshToken: try credentials.refreshToken.map(cipher.seal), fingerprint: CredentialCipher.fingerprint(access),
                expiresAt: credentials.expiryDate)
        }
        let metadata = String(decoding: try JSONEncoder().encode([
            "connection_config": JSONValue.object(connection.connectionConfig ?? [:]),
            "tags": .object((connection.tags ?? [:]).mapValues(JSONValue.string)),
            "end_user": connection.endUser ?? .null,
        ]), as: UTF8.self)
        let db = transaction.connection
        let company = try await CompaniesTable.upsertConnection(
            ConnectionIdentity(integrationId: connection.providerConfigKey, connectionId: connection.connectionId), provider: connection.provider,
            externalId: Self.externalID(connection.connectionConfig), connectionMetadata: metadata,
            credentialsAvailable: sealed != nil, on: db, logger: logger)
        if let sealed {
            try await ConnectionCredentialsTable.upsert(sealed, companyID: company.id, on: db, logger: logger)
        } else {
            logger.notice("Nango returned no credentials (the secret key lacks the read-credentials scope): company stored without a token",
                          metadata: ["company_id": "\(company.id)"])
            try await ConnectionCredentialsTable.forget(companyID: company.id, on: db, logger: logger)
        }
        transaction.changed(companyId: company.id, [.companies])
        return company
    }
}
