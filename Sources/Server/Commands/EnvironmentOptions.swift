import ArgumentParser
import Foundation
import Logging
import MarketplaceCore

/// `--env-file`, shared by every command that reads configuration.
struct EnvironmentOptions: ParsableArguments {
    @Option(name: .long, help: "A .env file read under the process environment (skipped when missing).")
    var envFile: String = ".env"

    func environment() throws -> [String: String] {
        do {
            return try AppConfiguration.processEnvironment(dotEnvPath: envFile)
        } catch {
            throw ValidationError("cannot read \(envFile): \(error)")
        }
    }

    /// Only what a database command needs (the database and the logs), so it runs without the service's
    /// other secrets; an exit naming the variable when a setting is bad.
    func loadDatabase() throws -> (values: [String: String], database: AppConfiguration.Database, logs: AppConfiguration.Logs) {
        let values = try environment()
        do {
            return (values, try AppConfiguration.Database.load(environment: values), AppConfiguration.Logs.load(environment: values))
        } catch {
            FileHandle.standardError.write(Data("marketplace: \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
    }

    /// The full configuration, or an exit with every problem listed, each naming its variable.
    func load() throws -> AppConfiguration {
        do {
            return try AppConfiguration.load(environment: try environment())
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("marketplace: \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
    }
}

enum LoggingBootstrap {
    /// Once per process: a second bootstrap traps.
    static func bootstrap(_ logs: AppConfiguration.Logs) -> Logger {
        LoggingSystem.bootstrap { label in
            switch logs.format {
            case .json: JSONLogHandler(label: label, level: logs.level)
            case .text:
                {
                    var handler = StreamLogHandler.standardOutput(label: label)
                    handler.logLevel = logs.level
                    return handler
                }()
            }
        }
        return Logger(label: "marketplace")
    }
}
