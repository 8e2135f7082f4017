/// The four resources: what a pipeline targets, what the API lists, and the table each lives in (the
/// raw value is the table's name, the API's path segment and the `target:` of `pipelines.yaml`).
public enum Resource: String, Sendable, CaseIterable, Codable {
    /// The connection's own company: a pipeline targeting it writes the company's profile.
    case companies
    case locations
    case contacts
    case products
}

extension Resource {
    /// The name a change's `type` starts with: `contact.created`, `company.updated`.
    public var singular: String {
        switch self {
        case .companies: "company"
        case .locations: "location"
        case .contacts: "contact"
        case .products: "product"
        }
    }
}
