import Logging
import MarketplaceCore
import Nango

/// Our Nango client paging every Customer record of the emulator's demo QuickBooks connection (what a sync
/// could reach if Postgres and the stages were free), and the emulator's start time and memory.
enum NangoScenario {
    struct Result {
        var rows: [Row]
        /// Records/s paged 1,000 at a time: one of the sync's two ceilings.
        var pagingRate: Quantity
    }

    static func run(_ run: BenchRun) async throws -> Result {
        progress("nango client vs emulator")
        let port = run.settings.basePort + 1
        let started = ContinuousClock.now
        let emulator = try await run.startEmulator(port: port, ["--records", "\(run.settings.nangoRecords)", "--demo"])
        let startTime = ContinuousClock.now - started
        let memoryAtStart = emulator.memory("VmRSS")
        let (records, byThousand) = try await page(emulator.baseURL, secretKey: run.settings.nangoSecretKey, limit: 1000)
        let (_, byHundred) = try await page(emulator.baseURL, secretKey: run.settings.nangoSecretKey, limit: 100)
        let peak = emulator.memory()
        await emulator.stop()
        let rate = Quantity.rate(byThousand, "records/s")
        return Result(rows: [
            Row(section: .nango, name: "client pages \(records) records out of the emulator, 1,000 a page", figure: .quantity(rate)),
            Row(section: .nango, name: "the same with Nango's default page size (100)", figure: .quantity(.rate(byHundred, "records/s"))),
            Row(section: .nango, name: "emulator start (spawn to first answer, \(run.settings.nangoRecords) records a model, 4 demo connections)",
                figure: .quantity(.milliseconds(startTime))),
            Row(section: .nango, name: "emulator memory: at start / peak after both runs",
                figure: .text("\(Quantity.mebibytes(memoryAtStart).text) / \(Quantity.mebibytes(peak).text)")),
        ], pagingRate: rate)
    }

    /// Every Customer record of the demo QuickBooks connection through `NangoClient`: how many, and how fast.
    static func page(_ baseURL: String, secretKey: String, limit: Int) async throws -> (records: Int, perSecond: Double) {
        let client = NangoClient(configuration: .init(baseURL: baseURL, secretKey: Secret(secretKey)), logger: Logger(label: "bench"))
        let query = NangoRecordsQuery(connectionId: "demo-quickbooks", providerConfigKey: "quickbooks", model: "Customer", limit: limit)
        let start = ContinuousClock.now
        var records = 0
        for try await page in client.records(query) { records += page.records.count }
        return (records, perSecond(records, ContinuousClock.now - start))
    }
}
