import Foundation
import MarketplaceCore

/// Record shapes of docs/nango.md §3, filled with realistic, messy values: emails with odd casing
/// and spaces, phones in local formats, countries as names or codes, prices sometimes as strings,
/// and about one record in fifty broken (no name, a malformed email).
enum RecordShapes {
    static func phone(_ format: String, _ generator: inout SeededGenerator) -> String {
        String(format.map { $0 == "#" ? Character(String(generator.next() % 10)) : $0 })
    }

    static func email(_ first: String, _ last: String, _ domain: String, _ generator: inout SeededGenerator) -> String {
        let local = "\(first).\(last)".folding(options: .diacriticInsensitive, locale: nil).replacingOccurrences(of: " ", with: "")
            .replacingOccurrences(of: "'", with: "")
        switch generator.next() % 5 {
        case 0: return " \(local)@\(domain.uppercased()) "
        case 1: return "\(local.uppercased())@\(domain)"
        case 2: return "\(local)@\(domain)"
        case 3: return "\(local.lowercased())@\(domain)\t"
        default: return "\(first.lowercased())@\(domain.capitalized)"
        }
    }

    static func company(_ generator: inout SeededGenerator) -> String {
        "\(generator.pick(SampleData.companyWords)) \(generator.pick(SampleData.companySuffixes))"
    }

    static func domain(_ company: String) -> String {
        company.lowercased().folding(options: .diacriticInsensitive, locale: nil)
            .filter { $0.isLetter || $0.isNumber } + ".example"
    }

    /// Provider-style timestamps: QuickBooks with an offset, HubSpot with `Z`, Salesforce with `+0000`.
    static func timestamp(_ index: Int, _ variant: Int, style: String) -> String {
        let date = Date(timeIntervalSince1970: 1_767_225_600 + Double(index * 97 + variant * 3_600))
        switch style {
        case "offset":
            return date.formatted(Date.ISO8601FormatStyle(timeZoneSeparator: .colon, timeZone: TimeZone(secondsFromGMT: -7 * 3600)!))
        case "salesforce": return date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)).replacingOccurrences(of: "Z", with: "+0000")
        default: return date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        }
    }

    static func broken(_ generator: inout SeededGenerator) -> Bool { generator.chance(0.02) }

    static let quickbooks = Integration(key: "quickbooks", provider: "quickbooks", syncs: [
        .init(name: "customers", model: "Customer", generate: { g, index, id, variant in
            let place = g.pick(SampleData.places)
            let first = g.pick(SampleData.firstNames), last = g.pick(SampleData.lastNames)
            let company = company(&g)
            var record: [String: JSONValue] = [
                "id": .string(id), "active": .bool(true), "fully_qualified_name": .string(company),
                "company_name": .string(company), "display_name": .string(variant > 0 ? "\(company) (\(variant))" : company),
                "print_on_check_name": .string(company), "billing_address_line1": .string("\(10 + index % 90) \(g.pick(SampleData.streets))"),
                "billing_city": .string(place.city), "billing_state": .string(place.region), "billing_postal_code": .string(place.postal),
                "email": .string(email(first, last, domain(company), &g)), "phone": .string(phone(g.pick(place.phones), &g)),
                "created_at": .string(timestamp(index, 0, style: "offset")), "updated_at": .string(timestamp(index, variant, style: "offset")),
            ]
            if g.chance(0.3) { record["mobile"] = .string(phone(g.pick(place.phones), &g)) }
            if broken(&g) { record["display_name"] = nil; record["company_name"] = nil; record["fully_qualified_name"] = nil; record["email"] = .string("not-an-email") }
            return record
        }, externalID: { String($0 + 1) }),
        .init(name: "items", model: "Item", generate: { g, index, id, variant in
            let price = Double(g.next() % 50_000) / 100
            var record: [String: JSONValue] = [
                "id": .string(id), "name": .string("\(g.pick(SampleData.products)) \(index + 1)"),
                "description": .string("\(g.pick(SampleData.products)) for fountain installation"), "active": .bool(true),
                "type": .string(g.pick(["Inventory", "NonInventory", "Service"])), "unitPrice": .number(price + Double(variant)),
                "purchaseCost": .number((price * 0.6).rounded()), "taxable": .bool(g.chance(0.7)), "trackQtyOnHand": .bool(g.chance(0.5)),
                "createdAt": .string(timestamp(index, 0, style: "offset")), "updatedAt": .string(timestamp(index, variant, style: "offset")),
            ]
            if g.chance(0.4) { record["qtyOnHand"] = .number(Double(g.next() % 500)) }
            if broken(&g) { record["name"] = nil; record["unitPrice"] = .string("twelve") }
            return record
        }, externalID: { String($0 + 1) }),
    ])

    static let xero = Integration(key: "xero", provider: "xero", syncs: [
        .init(name: "contacts", model: "Contact", generate: { g, index, id, variant in
            let place = g.pick(SampleData.places)
            let first = g.pick(SampleData.firstNames), last = g.pick(SampleData.lastNames)
            let company = company(&g)
            var record: [String: JSONValue] = [
                "id": .string(id), "name": .string(variant > 0 ? "\(company) \(variant)" : company),
                "email": .string(email(first, last, domain(company), &g)), "tax_number": .string("\(g.digits(2)) \(g.digits(7))"),
                "address_line_1": .string("P O Box \(g.digits(4))"), "city": .string(place.city), "zip": .string(place.postal),
                "country": .string(g.pick(place.countries)), "state": .string(place.region), "phone": .string(phone(g.pick(place.phones), &g)),
            ]
            if g.chance(0.5) { record["external_id"] = .string("C-\(index + 1)") }
            if broken(&g) { record["name"] = .string(""); record["email"] = .string("bob@@example") }
            return record
        }, externalID: { index in var g = SeededGenerator(seed: 7, "xero-contact", String(index)); return g.uuid() }),
        .init(name: "items", model: "Item", generate: { g, index, id, variant in
            [
                "id": .string(id), "item_code": .string("ITEM-\(index + 1)"),
                "name": .string("\(g.pick(SampleData.products))\(variant > 0 ? " v\(variant)" : "")"),
                "description": .string("Sold by the unit"), "account_code": .string(g.pick(["200", "260", "400"])),
            ]
        }, externalID: { index in var g = SeededGenerator(seed: 7, "xero-item", String(index)); return g.uuid() }),
    ])

    static let hubspot = Integration(key: "hubspot", provider: "hubspot", syncs: [
        .init(name: "contacts", model: "Contact", generate: { g, index, id, variant in
            let place = g.pick(SampleData.places)
            let first = g.pick(SampleData.firstNames), last = g.pick(SampleData.lastNames)
            let company = company(&g)
            var record: [String: JSONValue] = [
                "id": .string(id), "firstName": .string(first), "lastName": .string(last),
                "email": .string(email(first, last, domain(company), &g)), "phone": .string(phone(g.pick(place.phones), &g)),
                "jobTitle": .string(g.pick(["CFO", "Office Manager", "Owner", "Buyer", "Accountant"])), "company": .string(company),
                "createdAt": .string(timestamp(index, 0, style: "z")), "updatedAt": .string(timestamp(index, variant, style: "z")),
            ]
            if broken(&g) { record["firstName"] = nil; record["lastName"] = nil; record["email"] = .string("@nowhere") }
            return record
        }, externalID: { String(713_492_963_559 + $0) }),
        .init(name: "companies", model: "Company", generate: { g, index, id, variant in
            let place = g.pick(SampleData.places)
            let company = company(&g)
            return [
                "id": .string(id), "name": .string(variant > 0 ? "\(company) \(variant)" : company), "domain": .string(domain(company)),
                "industry": .string(g.pick(SampleData.industries)), "city": .string(place.city), "state": .string(place.region),
                "country": .string(g.pick(place.countries)), "phone": .string(phone(g.pick(place.phones), &g)),
                "website": .string("https://" + domain(company)),
                "createdAt": .string(timestamp(index, 0, style: "z")), "updatedAt": .string(timestamp(index, variant, style: "z")),
            ]
        }, externalID: { String(421_290_981_567 + $0) }),
        .init(name: "products", model: "Product", generate: { g, index, id, variant in
            let price = Double(g.next() % 20_000) / 100 + Double(variant)
            var record: [String: JSONValue] = [
                "id": .string(id), "name": .string("\(g.pick(SampleData.products)) \(index + 1)"), "sku": .string("SKU-\(index + 1)"),
                // HubSpot stores price as text; older templates pass it through as a string.
                "price": g.chance(0.5) ? .string(String(format: "%.2f", price)) : .number(price),
                "billingFrequency": .string(g.pick(["monthly", "annually", "one_time"])),
                "createdAt": .string(timestamp(index, 0, style: "z")), "updatedAt": .string(timestamp(index, variant, style: "z")),
            ]
            if broken(&g) { record["price"] = .string("N/A") }
            return record
        }, externalID: { String(1_234_567 + $0) }, frequency: "every 5 minutes"),
    ])

    static let salesforce = Integration(key: "salesforce", provider: "salesforce", syncs: [
        .init(name: "accounts", model: "Account", generate: { g, index, id, variant in
            let place = g.pick(SampleData.places)
            let company = company(&g)
            return [
                "id": .string(id), "name": .string(variant > 0 ? "\(company) \(variant)" : company), "accountNumber": .string("CD\(g.digits(6))"),
                "industry": .string(g.pick(SampleData.industries)), "type": .string("Customer - Direct"),
                "billingCity": .string(place.city), "billingState": .string(place.region), "billingCountry": .string(g.pick(place.countries)),
                "phone": .string(phone(g.pick(place.phones), &g)), "website": .string("www." + domain(company)),
                "createdDate": .string(timestamp(index, 0, style: "salesforce")), "lastModifiedDate": .string(timestamp(index, variant, style: "salesforce")),
                "systemModstamp": .string(timestamp(index, variant, style: "salesforce")),
            ]
        }, externalID: { "001dM0000" + String(format: "%09d", $0) }),
        .init(name: "contacts", model: "Contact", generate: { g, index, id, variant in
            let place = g.pick(SampleData.places)
            let first = g.pick(SampleData.firstNames), last = g.pick(SampleData.lastNames)
            var record: [String: JSONValue] = [
                "id": .string(id), "first_name": .string(first), "last_name": .string(variant > 0 ? "\(last)-\(variant)" : last),
                "email": .string(email(first, last, "edge.example", &g)), "phone": .string(phone(g.pick(place.phones), &g)),
                "mobile_phone": .string(phone(g.pick(place.phones), &g)), "title": .string(g.pick(["SVP, Procurement", "Buyer", "CEO"])),
                "department": .string("Procurement"), "account_id": .string("001dM0000" + String(format: "%09d", index % 50)),
                "mailing_address": .object([
                    "street": .string("\(10 + index % 90) \(g.pick(SampleData.streets))"), "city": .string(place.city),
                    "state": .string(place.region), "postalCode": .string(place.postal), "country": .string(g.pick(place.countries)),
                ]),
                "created_at": .string(timestamp(index, 0, style: "salesforce")),
            ]
            if broken(&g) { record["last_name"] = .string(""); record["email"] = .string("rose at edge") }
            return record
        }, externalID: { "003dM0000" + String(format: "%09d", $0) }),
    ])
}
