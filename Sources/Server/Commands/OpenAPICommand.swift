import ArgumentParser
import Foundation
import MarketplaceCore

struct OpenAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openapi",
        abstract: "Print the OpenAPI 3.1 document of the HTTP API (what GET /openapi.json serves)."
    )

    @Flag(help: "Indent the JSON for reading.") var pretty = false

    func run() async throws {
        guard pretty else { print(APIDocument.json); return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(APIDocument.render()), as: UTF8.self))
    }
}
