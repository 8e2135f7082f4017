import ArgumentParser
import Foundation
import MarketplaceCore

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the configuration and print the effective settings, secrets masked."
    )

    @OptionGroup var environment: EnvironmentOptions

    func run() async throws {
        let configuration = try environment.load()
        let width = configuration.maskedSummary.map(\.name.count).max() ?? 0
        for (name, value) in configuration.maskedSummary {
            print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
        for warning in configuration.warnings { print("warning: \(warning)") }
    }
}
