import Foundation

import MarketplaceCore

/// An integration the emulator serves: its provider config key, provider and syncs (one model each).
struct Integration: Sendable {
    struct Sync: Sendable {
        let name: String
        let model: String
        /// Builds record `index` of this model for a connection; `variant` > 0 gives an updated version.
        let generate: @Sendable (_ generator: inout SeededGenerator, _ index: Int, _ externalID: String, _ variant: Int) -> [String: JSONValue]
        let externalID: @Sendable (_ index: Int) -> String
    }

    let key: String
    let provider: String
    let syncs: [Sync]

    func sync(forModel model: String) -> Sync? { syncs.first { $0.model == model } }

    static let all: [Integration] = [RecordShapes.quickbooks, RecordShapes.xero, RecordShapes.hubspot, RecordShapes.salesforce]

    static func named(_ key: String) -> Integration? { all.first { $0.key == key } }
}
