import Storage
import ArgumentParser
import Foundation
import MarketplaceCore
import Pipeline

struct PipelinesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipelines",
        abstract: "Check pipelines.yaml, try a pipeline on records without a database, or queue a backfill, re-derivation or full resync.",
        subcommands: [Check.self, Run.self, Backfill.self, Rederive.self, FullResync.self]
    )

    /// The file: the argument, else PIPELINES_FILE (environment or .env), else pipelines.yaml.
    static func file(_ argument: String?) -> String {
        if let argument { return argument }
        let environment = (try? AppConfiguration.processEnvironment()) ?? ProcessInfo.processInfo.environment
        return environment["PIPELINES_FILE"] ?? "pipelines.yaml"
    }

    static func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
        return ExitCode.failure
    }

    static func interval(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        if seconds % 604_800 == 0 { return "\(seconds / 604_800)w" }
        if seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
        return "\(seconds / 3_600)h"
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a pipelines file: prints every error as FILE:LINE:COLUMN: message and exits non-zero; prints a summary when it is good.")

        @Argument(help: "The pipelines file (default: PIPELINES_FILE, else pipelines.yaml).")
        var file: String?

        func run() throws {
            let path = PipelinesCommand.file(file)
            do {
                let set = try PipelineLoader.load(path: path)
                for pipeline in set.pipelines {
                    let stages = ["map"] + (pipeline.normalizers.isEmpty ? [] : ["normalize"])
                        + (pipeline.validation.isEmpty ? [] : ["validate"]) + (pipeline.dedupeKey == nil ? [] : ["dedupe"])
                    print("\(pipeline.name): \(pipeline.source.matchDescription), model \(pipeline.source.model) → \(pipeline.target.rawValue), "
                        + (pipeline.source.fullResync.map { "full resync every \(PipelinesCommand.interval($0)), " } ?? "")
                        + "\(pipeline.mapping.fields.count) field(s), stages \(stages.joined(separator: " → "))\(pipeline.enabled ? "" : " (disabled)")")
                }
                print("\(path): \(set.pipelines.count) pipeline(s), ok")
            } catch {
                let count = error.diagnostics.count
                throw PipelinesCommand.fail(error.description + "\n\(count) error\(count == 1 ? "" : "s") in \(path)")
            }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a pipeline's stages on records (a Nango records page or a JSON array) and print what would be written and quarantined.")

        enum Format: String, ExpressibleByArgument, CaseIterable { case json, table }

        @Option(help: "The pipeline to run.")
        var pipeline: String

        @Option(help: "A JSON file: a Nango records page or an array of records ('-' reads standard input).")
        var input: String

        @Option(help: "Output format: json or table.")
        var format: Format = .json

        @Option(help: "The pipelines file (default: PIPELINES_FILE, else pipelines.yaml).")
        var file: String?

        func run() throws {
            let path = PipelinesCommand.file(file)
            let set: PipelineSet
            do { set = try PipelineLoader.load(path: path) } catch { throw PipelinesCommand.fail(error.description) }
            guard let definition = set.pipeline(named: pipeline) else {
                throw PipelinesCommand.fail("no pipeline named '\(pipeline)' in \(path); it has: " + set.pipelines.map(\.name).joined(separator: ", "))
            }
            let data: Data
            do {
                data = input == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: input))
            } catch {
                throw PipelinesCommand.fail("cannot read \(input): \(error.localizedDescription)")
            }
            do {
                let result = try DryRun(pipeline: definition, input: data, versionTag: set.hash)
                print(format == .json ? result.json : result.table, terminator: format == .json ? "\n" : "")
            } catch {
                throw PipelinesCommand.fail("\(input): \(error.description)")
            }
        }
    }
}
