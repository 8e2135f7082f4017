import Foundation
import Logging
import MarketplaceCore
import Testing

@Suite struct JSONLogHandlerTests {
    @Test func rendersOneParseableLineWithMetadataAndRequestID() throws {
        let line = JSONLogHandler.render(
            timestamp: "2026-01-01T00:00:00.000Z", level: .info, label: "marketplace",
            message: "quote \" backslash \\ newline \n tab \t bell \u{7}",
            metadata: ["hb.request.id": "abc", "nested": ["a": ["1", "two"]], "count": "3"]
        )
        #expect(line.hasSuffix("}\n"))
        #expect(line.filter { $0 == "\n" }.count == 1)
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "info")
        #expect(object["message"] as? String == "quote \" backslash \\ newline \n tab \t bell \u{7}")
        #expect(object["request_id"] as? String == "abc")
        #expect(object["count"] as? String == "3")
        #expect((object["nested"] as? [String: Any])?["a"] as? [String] == ["1", "two"])
    }
}

@Suite struct TimeoutTests {
    @Test func slowOperationTimesOut() async {
        let start = ContinuousClock.now
        await #expect(throws: TimeoutError(timeout: .milliseconds(50))) {
            try await withTimeout(.milliseconds(50)) { try await Task.sleep(for: .seconds(600)) }
        }
        // Far below the operation's ten minutes, with room for a loaded machine.
        #expect(ContinuousClock.now - start < .seconds(30))
    }

    @Test func fastOperationReturns() async throws {
        #expect(try await withTimeout(.seconds(5)) { 42 } == 42)
    }
}
