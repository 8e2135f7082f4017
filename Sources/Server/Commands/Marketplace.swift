import ArgumentParser
import MarketplaceCore

@main
struct Marketplace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "marketplace",
        abstract: "Nango webhook-and-sync pipeline for marketplace installations.",
        version: MarketplaceVersion.current,
        subcommands: [ServeCommand.self, MigrateCommand.self, PipelinesCommand.self, DriftCommand.self, ConfigCommand.self, OpenAPICommand.self],
        defaultSubcommand: ServeCommand.self
    )
}
