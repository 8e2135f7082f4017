import Foundation
import Logging
@testable import MarketplaceCore
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

    @Test func theEventsOwnMetadataWinsOverTheProvidersAndTheHandlers() throws {
        var fields = [
            JSONLogHandler.Field(key: "route", rank: 2, value: "event"),
            JSONLogHandler.Field(key: "route", rank: 0, value: "handler"),
            JSONLogHandler.Field(key: "zone", rank: 0, value: "handler"),
            JSONLogHandler.Field(key: "route", rank: 1, value: "provider"),
            JSONLogHandler.Field(key: "message", rank: 2, value: "not the message"),
        ]
        var line: [UInt8] = []
        JSONLogHandler.write(timestamp: "2026-01-01T00:00:00.000Z", level: .notice, label: "l", message: "m\u{1}", fields: &fields, into: &line)
        #expect(String(decoding: line, as: UTF8.self)
            == #"{"timestamp":"2026-01-01T00:00:00.000Z","level":"notice","label":"l","message":"m\u0001","route":"event","zone":"handler"}"# + "\n")
    }

    @Test func timestampsAreRFC3339UTCWithMilliseconds() throws {
        let stamp = JSONLogHandler.timestamp()
        #expect(stamp.wholeMatch(of: /20\d\d-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-6]\d\.\d{3}Z/) != nil, "\(stamp)")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let parsed = try #require(formatter.date(from: stamp))
        #expect(abs(parsed.timeIntervalSinceNow) < 60)
    }
}

@Suite struct LogOutputTests {
    /// What a pipe's reader end holds once the writer end is closed.
    func drain(_ descriptor: Int32) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The lines an output writing into a pipe wrote, once `write` appended and flushed.
    func lines(limit: Int = 8 << 20, drainsInBackground: Bool = true, _ write: (LogOutput) -> Void) -> [Substring] {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let output = LogOutput(descriptor: ends[1], limit: limit, drainsInBackground: drainsInBackground)
        write(output)
        output.flush()
        close(ends[1])
        defer { close(ends[0]) }
        return drain(ends[0]).split(separator: "\n")
    }

    @Test func linesLeaveWholeAndInOrderOnFlush() throws {
        let lines = lines { output in
            for index in 0..<500 { output.append("line \(index)\n") }
        }
        #expect(lines.count == 500)
        #expect(lines.first == "line 0")
        #expect(lines.last == "line 499")
        #expect(lines == (0..<500).map { "line \($0)"[...] })
    }

    @Test func aBufferAtItsLimitDropsLinesAndSaysHowMany() throws {
        // Room for three 10-byte lines: the fourth and fifth are dropped, and a warning line counts them.
        let lines = lines(limit: 30, drainsInBackground: false) { output in
            for index in 0..<5 { output.append("line \(index)...\n") }
        }
        #expect(lines.count == 4)
        #expect(Array(lines.prefix(3)) == ["line 0...", "line 1...", "line 2..."])
        let warning = try #require(JSONSerialization.jsonObject(with: Data(lines[3].utf8)) as? [String: Any])
        #expect(warning["dropped_lines"] as? String == "2")
        #expect(warning["level"] as? String == "warning")
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
