import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MarketplaceCore
import Nango
import TestSupport

@testable import NangoEmulator

/// A live emulator on a free port, and a client pointed at it.
enum EmulatorHarness {
    static let secretKey = "6f1c3a52-5a0e-4b43-9a55-2b8e0d4c1e77"
    static let webhookSecret = "0b7a0c1e-7d55-4d7e-9c3f-1d2e3f4a5b6c"

    static func run<Result: Sendable>(
        records: Int = 50, webhookURLs: [String] = [], rateLimit: Int = 100_000,
        _ body: @escaping @Sendable (_ emulator: Emulator, _ baseURL: String) async throws -> Result
    ) async throws -> Result {
        let emulator = Emulator(
            options: .init(secretKey: secretKey, webhookSecret: webhookSecret, webhookURLs: webhookURLs, seed: 42,
                           recordsPerModel: records, webhookRetryScale: 0.01, environment: "dev", publicURL: "http://127.0.0.1",
                           rateLimitPerMinute: rateLimit),
            logger: TestEnvironment.logger)
        await emulator.createDemoConnections()
        return try await emulator.application(host: "127.0.0.1", port: 0).test(.live) { client in
            try await body(emulator, "http://127.0.0.1:\(client.port!)")
        }
    }

    static func client(_ baseURL: String, secret: String = secretKey, configure: (inout NangoClient.Configuration) -> Void = { _ in }) -> NangoClient {
        var configuration = NangoClient.Configuration(baseURL: baseURL, secretKey: Secret(secret))
        configuration.initialBackOff = .milliseconds(10)
        configuration.maxBackOff = .milliseconds(50)
        configure(&configuration)
        return NangoClient(configuration: configuration, logger: TestEnvironment.logger)
    }

    static func allRecords(_ client: NangoClient, _ query: NangoRecordsQuery) async throws -> [NangoRecord] {
        var records: [NangoRecord] = []
        for try await page in client.records(query) { records += page.records }
        return records
    }
}
