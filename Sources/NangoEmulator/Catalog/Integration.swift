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
        /// The template's `frequency` (docs/nango.md §3), which `GET /sync/status` reports and schedules by.
        var frequency = "every hour"

        /// `frequency` in seconds: `every hour`, `every 5 minutes`, `every day` and the like.
        var intervalSeconds: Int64 {
            let words = frequency.split(separator: " ")
            let count = words.count == 3 ? Int64(words[1]) ?? 1 : 1
            let unit = words.last ?? "hour"
            let seconds: Int64 = unit.hasPrefix("minute") ? 60 : unit.hasPrefix("day") ? 86_400 : unit.hasPrefix("second") ? 1 : 3_600
            return max(1, count) * seconds
        }
    }

    let key: String
    let provider: String
    let syncs: [Sync]

    func sync(forModel model: String) -> Sync? { syncs.first { $0.model == model } }

    static let all: [Integration] = [RecordShapes.quickbooks, RecordShapes.xero, RecordShapes.hubspot, RecordShapes.salesforce]

    static func named(_ key: String) -> Integration? { all.first { $0.key == key } }
}
