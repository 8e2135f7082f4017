import Storage
/// What a pipeline writes: one of the four resources, with the fields `pipelines.yaml` may map.
extension Resource {
    public var schema: TargetSchema { TargetSchema.of(self) }
}

/// A field of a target, named as in `pipelines.yaml` (`address.city`), with its column and type.
public struct TargetField: Sendable, Hashable, CustomStringConvertible {
    public enum ValueType: String, Sendable {
        case text, email, phone, country, currency, decimal, double, boolean, timestamp
    }

    public let name: String
    public let column: String
    public let type: ValueType

    public var description: String { name }
}

public struct TargetSchema: Sendable {
    public let kind: Resource
    public let fields: [TargetField]
    /// Fields a pipeline must map: without them a row cannot be written.
    public let required: [String]

    public func field(_ name: String) -> TargetField? { fields.first { $0.name == name } }

    static let address: [TargetField] = [
        .init(name: "address.line1", column: "address_line1", type: .text),
        .init(name: "address.line2", column: "address_line2", type: .text),
        .init(name: "address.city", column: "city", type: .text),
        .init(name: "address.region", column: "region", type: .text),
        .init(name: "address.postal_code", column: "postal_code", type: .text),
        .init(name: "address.country", column: "country", type: .country),
    ]

    /// The provider's creation time; the modification time that orders versions is Nango's own.
    static let created = TargetField(name: "created_at", column: "source_created_at", type: .timestamp)

    static func of(_ kind: Resource) -> TargetSchema {
        switch kind {
        case .companies:
            return TargetSchema(kind: kind, fields: [
                .init(name: "external_id", column: "external_id", type: .text),
                .init(name: "name", column: "name", type: .text),
                .init(name: "legal_name", column: "legal_name", type: .text),
                .init(name: "email", column: "email", type: .email),
                .init(name: "phone", column: "phone", type: .phone),
                .init(name: "website", column: "website", type: .text),
                .init(name: "tax_id", column: "tax_id", type: .text),
                .init(name: "currency", column: "currency", type: .currency),
            ] + address + [created], required: ["name"])
        case .locations:
            return TargetSchema(kind: kind, fields: [
                .init(name: "external_id", column: "external_id", type: .text),
                .init(name: "name", column: "name", type: .text),
                .init(name: "kind", column: "kind", type: .text),
                .init(name: "email", column: "email", type: .email),
                .init(name: "phone", column: "phone", type: .phone),
                .init(name: "latitude", column: "latitude", type: .double),
                .init(name: "longitude", column: "longitude", type: .double),
                .init(name: "timezone", column: "timezone", type: .text),
                .init(name: "is_active", column: "is_active", type: .boolean),
            ] + address + [created], required: ["external_id"])
        case .contacts:
            return TargetSchema(kind: kind, fields: [
                .init(name: "external_id", column: "external_id", type: .text),
                .init(name: "display_name", column: "display_name", type: .text),
                .init(name: "first_name", column: "first_name", type: .text),
                .init(name: "last_name", column: "last_name", type: .text),
                .init(name: "organization", column: "organization", type: .text),
                .init(name: "title", column: "title", type: .text),
                .init(name: "email", column: "email", type: .email),
                .init(name: "phone", column: "phone", type: .phone),
                .init(name: "mobile", column: "mobile", type: .phone),
                .init(name: "is_active", column: "is_active", type: .boolean),
            ] + address + [created], required: ["external_id"])
        case .products:
            return TargetSchema(kind: kind, fields: [
                .init(name: "external_id", column: "external_id", type: .text),
                .init(name: "sku", column: "sku", type: .text),
                .init(name: "name", column: "name", type: .text),
                .init(name: "description", column: "description", type: .text),
                .init(name: "kind", column: "kind", type: .text),
                .init(name: "unit_price", column: "unit_price", type: .decimal),
                .init(name: "currency", column: "currency", type: .currency),
                .init(name: "unit_cost", column: "unit_cost", type: .decimal),
                .init(name: "quantity_on_hand", column: "quantity_on_hand", type: .decimal),
                .init(name: "taxable", column: "taxable", type: .boolean),
                .init(name: "is_active", column: "is_active", type: .boolean),
                created,
            ], required: ["external_id"])
        }
    }
}
