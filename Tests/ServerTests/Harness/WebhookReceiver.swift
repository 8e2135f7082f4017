import AsyncHTTPClient
import Foundation
import MarketplaceCore
import NIOCore
import NIOHTTP1
import Testing
import TestSupport

/// `Tests/Outbound/receiver.py`, run with the tools' Python: a receiver that verifies every message with PyPI's
/// `standardwebhooks` and `svix` before answering it, and answers as each test tells it (ok, down, gone, Retry-After,
/// hang).
final class WebhookReceiver: Sendable {
    let port: Int
    let pid: Int32

    struct Received: Sendable, Decodable {
        let id: String?
        let timestamp: String?
        let signatures: Int
        let type: String?
        let standard: Bool
        let svix: Bool
        let received_at: Double
        let answered: Int
        let body: String

        var json: JSONValue { (try? JSONValue.parse(Array(body.utf8))) ?? .null }
    }

    private init(port: Int, pid: Int32) {
        self.port = port
        self.pid = pid
    }

    static func start() async throws -> WebhookReceiver {
        let python = TestEnvironment.process["BROWSER_TEST_PYTHON"] ?? ".tools/venv/bin/python"
        try #require(FileManager.default.isExecutableFile(atPath: python), "\(python) is missing: run scripts/install-tools.sh (make test does)")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Outbound/receiver.py").path
        let port = FreePort.next()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, String(port)]
        process.standardOutput = FileHandle.nullDevice
        try ChildProcess.launch(process)
        let receiver = WebhookReceiver(port: port, pid: process.processIdentifier)
        try await eventually("the receiver listens", timeout: .seconds(30), every: .milliseconds(50)) { FreePort.isListening(port) }
        return receiver
    }

    func url(_ name: String) -> String { "http://127.0.0.1:\(port)/hook/\(name)" }

    func configure(_ name: String, secrets: [String]? = nil, mode: String? = nil, retryAfter: Int? = nil, failNext: Int? = nil,
                   failIds: [String]? = nil) async throws {
        var settings: [String: JSONValue] = [:]
        if let failIds { settings["fail_ids"] = .array(failIds.map(JSONValue.string)) }
        if let secrets { settings["secrets"] = .array(secrets.map(JSONValue.string)) }
        if let mode { settings["mode"] = .string(mode) }
        if let retryAfter { settings["retry_after"] = .number(Double(retryAfter)) }
        if let failNext { settings["fail_next"] = .number(Double(failNext)) }
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/_control/\(name)")
        request.method = .PUT
        request.body = .bytes(ByteBuffer(string: JSONValue.object(settings).jsonText))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        #expect(response.status == .ok)
    }

    func received(_ name: String) async throws -> [Received] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/_received/\(name)"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 256 << 20)
        return try JSONDecoder().decode([Received].self, from: Data(body.readableBytesView))
    }

    func stop() {
        kill(pid, SIGKILL)
    }

    deinit { kill(pid, SIGKILL) }
}
