import Foundation
import MarketplaceCore
import PostgresNIO
import Storage
import Testing
import TestSupport

/// The ops console in headless Chromium (Debian's `chromium` and `chromium-driver`, Selenium from PyPI, both
/// installed by `scripts/install-tools.sh`): the real server and emulator on a Postgres of the test's own, driven
/// by `Tests/Browser/console_test.py` through sign-in, a live event, a replay, a dead job retried into success,
/// a mapping fixed on disk and its quarantine re-run, an error on its line, a dry run, the change log's series and a
/// company's last changes, an outbound endpoint's attempts and actions, CSRF, the viewer role and sign-out. Screenshots
/// of each page at 1280×800 land in `.build/console-screenshots/`.
@Suite(.serialized, .timeLimit(.minutes(15))) struct ConsoleBrowserTests {
    static let viewerToken = "test-console-viewer-token-0123"

    /// The shipped pipelines with a broken contacts mapping (display_name read from fields that do not exist) and
    /// two attempts a job, so a sync dies quickly when Nango fails.
    static func pipelinesCopy() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var text = try String(contentsOf: root.appendingPathComponent("pipelines.yaml"), encoding: .utf8)
        let retry = "retry: { max_attempts: 8, initial_backoff: 2s, max_backoff: 10m }"
        let join = "display_name: { join: [firstName, lastName], separator: \" \" }"
        #expect(text.contains(retry) && text.contains(join), "the shipped pipelines.yaml changed: update this test's edits")
        text = text.replacingOccurrences(of: retry, with: "retry: { max_attempts: 2, initial_backoff: 1s, max_backoff: 2s }")
        text = text.replacingOccurrences(of: join, with: "display_name: { join: [firstNam, lastNam], separator: \" \" }")
        let path = NSTemporaryDirectory() + "console-pipelines-\(UUID().uuidString.prefix(8)).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func theConsoleWorksInARealBrowser() async throws {
        try await OneAtATime.processFaults.run { try await self.theConsoleWorksInARealBrowserAlone() }
    }

    func theConsoleWorksInARealBrowserAlone() async throws {
        let python = TestEnvironment.process["BROWSER_TEST_PYTHON"] ?? ".tools/venv/bin/python"
        try #require(FileManager.default.isExecutableFile(atPath: python), "\(python) is missing: run scripts/install-tools.sh (make test does)")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"), "chromium-driver is missing: run scripts/install-tools.sh")
        let postgres = try await PostgresCluster.start()
        let emulatorPort = FreePort.next(), serverPort = FreePort.next()
        let secret = "5d2c3a52-5a0e-4b43-9a55-2b8e0d4c1e71"
        let pipelines = try Self.pipelinesCopy()
        defer { try? FileManager.default.removeItem(atPath: pipelines) }
        let emulator = try await ServerProcess.start(
            environment: [:], arguments: [
                "--port", "\(emulatorPort)", "--secret-key", secret, "--webhook-secret", WebhookTests.key,
                "--webhook-url", "http://127.0.0.1:\(serverPort)/webhooks/nango", "--records", "60", "--webhook-retry-scale", "0.01",
            ], executable: "nango-emulator", port: emulatorPort, readyPath: "/_emulator/state")
        let server = try await ServerProcess.start(environment: TestEnvironment.values([
            "DATABASE_URL": postgres.databaseURL, "NANGO_BASE_URL": "http://127.0.0.1:\(emulatorPort)", "NANGO_SECRET_KEY": secret,
            "NANGO_WEBHOOK_SECRET": WebhookTests.key, "WORKER_COUNT": "2", "PIPELINES_FILE": pipelines, "PIPELINES_RELOAD_INTERVAL": "1",
            "CONSOLE_VIEWER_TOKEN": Self.viewerToken, "LOG_LEVEL": "info",
            // The outbound endpoint the browser registers is on loopback over http, and answers nothing: two attempts
            // a second apart, each given up after a second at most.
            "OUTBOUND_ALLOW_HTTP": "true", "OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true", "OUTBOUND_RETRY_SCHEDULE": "0s,1s", "OUTBOUND_TIMEOUT": "1",
        ]), port: serverPort)
        let database = try AppConfiguration.Database.load(environment: ["DATABASE_URL": postgres.databaseURL])
        func int(_ sql: String) async throws -> Int {
            try await Database.running(database) { db in
                try await db.query(PostgresQuery(unsafeSQL: sql), logger: TestEnvironment.logger)[0].decode(Int.self)
            }
        }
        // A HubSpot company with its first syncs done: the broken mapping quarantines every contact.
        _ = try await FaultTests.control(emulatorPort, "/connections", #"{"provider_config_key": "hubspot", "connection_id": "console"}"#)
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline,
            (try? await int("SELECT count(*)::int FROM sync_state WHERE connection_id = 'console' AND last_success_at IS NOT NULL")) != 3 {
            try await Task.sleep(for: .milliseconds(250))
        }
        let quarantined = try await int("SELECT count(*)::int FROM quarantine WHERE pipeline = 'hubspot-contacts' AND status = 'open'")
        #expect(quarantined == 60, "every one of the 60 contacts fails the broken mapping")

        let screenshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/console-screenshots").path
        let started = ContinuousClock.now
        let command = [python, "Tests/Browser/console_test.py"]
        let environment = [
            "CONSOLE_BASE_URL": server.baseURL, "EMULATOR_URL": "http://127.0.0.1:\(emulatorPort)",
            "ADMIN_TOKEN": TestEnvironment.values()["ADMIN_TOKEN"]!, "CONSOLE_VIEWER_TOKEN": Self.viewerToken,
            "PIPELINES_FILE": pipelines, "CONNECTION_ID": "console", "SCREENSHOT_DIR": screenshots,
            "HOOK_URL": "http://127.0.0.1:\(FreePort.next())/hook",
            "PATH": TestEnvironment.process["PATH"] ?? "/usr/bin:/bin", "HOME": NSTemporaryDirectory(),
        ]
        let output: (status: Int32, text: String)
        do {
            output = (0, try await ChildProcess.run(command, environment: environment))
        } catch let failed as ChildProcess.Failed {
            output = (failed.status, failed.output)
        }
        print(output.text.split(separator: "\n").filter { $0.hasPrefix("console-browser:") || $0.contains("Error") }.joined(separator: "\n"))
        #expect(output.status == 0, "the browser steps failed:\n\(output.text)\nserver log:\n\(server.logTail(lines: 20))")
        print("console-browser: took \(ContinuousClock.now - started)")
        if output.status != 0 {
            let jobs = try await Database.running(database) { db in
                try await db.query("SELECT id || ' ' || kind || ' ' || status || ' ' || attempts || ' ' || COALESCE(last_error, '') FROM jobs ORDER BY id DESC LIMIT 8", logger: TestEnvironment.logger)
                    .map { try $0.decode(String.self) }
            }
            print("console-browser: jobs at the end:\n" + jobs.joined(separator: "\n"))
            try? FileManager.default.removeItem(atPath: screenshots + "/server.log")
            try? FileManager.default.copyItem(atPath: server.logPath, toPath: screenshots + "/server.log")
        }

        // What the browser did, seen in the database.
        // After the fix and the re-run, each of the 60 contacts is a row or (a contact with no name at all) still quarantined.
        let open = try await int("SELECT count(*)::int FROM quarantine WHERE pipeline = 'hubspot-contacts' AND status = 'open'")
        let rows = try await int("SELECT count(*)::int FROM contacts c JOIN companies co ON co.id = c.company_id WHERE co.connection_id = 'console' AND c.deleted_at IS NULL")
        #expect(open < 60 && open + rows == 60, "\(open) quarantined, \(rows) stored")
        // The job the browser retried is the one that must have come back; other keys' syncs may also have died
        // while Nango failed every call, and stay dead until someone retries them, as they should.
        let retriedLine = output.text.split(separator: "\n").first { $0.hasPrefix("console-browser: job ") && $0.contains("retried, succeeded") }
        let retried = retriedLine.flatMap { Int($0.dropFirst("console-browser: job ".count).prefix { $0.isNumber }) }
        #expect(retried != nil, "the browser reported no retried job")
        if let retried {
            #expect(try await int("SELECT count(*)::int FROM jobs WHERE id = \(retried) AND kind = 'sync.run' AND status = 'succeeded'") == 1)
        }
        // The outbound endpoint it registered: two test messages (one sent from its page, one through the API while the
        // page followed the feed), its secret rotated, enabled again after the disable.
        #expect(try await int("SELECT count(*)::int FROM webhook_messages WHERE event_type = 'webhook.test'") == 2)
        #expect(try await int("SELECT count(*)::int FROM webhook_endpoints WHERE previous_secret_sealed IS NOT NULL AND status = 'enabled'") == 1)
        for page in ["overview", "events", "event", "job-dead", "quarantine", "pipelines", "pipelines-error", "companies", "company", "company-changes", "tokens", "jobs",
                     "outbound", "outbound-endpoint"] {
            #expect(FileManager.default.fileExists(atPath: screenshots + "/\(page).png"), "screenshot \(page)")
        }
        _ = emulator
    }
}
