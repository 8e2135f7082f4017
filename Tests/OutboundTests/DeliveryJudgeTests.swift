import Foundation
import MarketplaceCore
import Testing

@testable import Outbound

@Suite struct DeliveryJudgeTests {
    static let schedule: [Duration] = AppConfiguration.Outbound.svixSchedule
    let judge = DeliveryJudge(schedule: Self.schedule)

    @Test func onlyA2xxDelivers() {
        for status in [200, 201, 204, 299] { #expect(judge.judge(attempt: 1, status: status, retryAfter: nil, random: 0.5) == .delivered) }
        for status in [301, 302, 400, 401, 404, 500, 502] {
            #expect(judge.judge(attempt: 1, status: status, retryAfter: nil, random: 0.5) == .retry(after: .seconds(5)), "\(status)")
        }
        #expect(judge.judge(attempt: 1, status: nil, retryAfter: nil, random: 0.5) == .retry(after: .seconds(5)), "no answer")
    }

    @Test func theScheduleIsSvixsWithTwentyPercentJitterAndEndsFailed() {
        // After attempt n fails, attempt n + 1 waits the schedule's entry n: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
        let expected: [Duration] = [.seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18_000), .seconds(36_000), .seconds(36_000)]
        for (index, delay) in expected.enumerated() {
            #expect(judge.judge(attempt: index + 1, status: 500, retryAfter: nil, random: 0.5) == .retry(after: delay))
            #expect(judge.judge(attempt: index + 1, status: 500, retryAfter: nil, random: 0) == .retry(after: delay * 0.8))
            #expect(judge.judge(attempt: index + 1, status: 500, retryAfter: nil, random: 1) == .retry(after: delay * 1.2))
        }
        #expect(judge.judge(attempt: 8, status: 500, retryAfter: nil, random: 0.5) == .failed)
    }

    @Test func retryAfterOf429And503IsAFloorAnd410IsGone() {
        #expect(judge.judge(attempt: 1, status: 429, retryAfter: "120", random: 0.5) == .retry(after: .seconds(120)))
        #expect(judge.judge(attempt: 1, status: 503, retryAfter: "2", random: 0.5) == .retry(after: .seconds(5)), "the schedule is longer")
        #expect(judge.judge(attempt: 1, status: 500, retryAfter: "120", random: 0.5) == .retry(after: .seconds(5)), "only 429 and 503")
        #expect(judge.judge(attempt: 1, status: 429, retryAfter: "soon", random: 0.5) == .retry(after: .seconds(5)))
        #expect(judge.judge(attempt: 1, status: 410, retryAfter: nil, random: 0.5) == .gone)
        #expect(judge.judge(attempt: 8, status: 410, retryAfter: nil, random: 0.5) == .gone)
        let inAMinute = Date(timeIntervalSince1970: 1_800_000_060)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        #expect(DeliveryJudge.retryAfter(formatter.string(from: inAMinute), now: Date(timeIntervalSince1970: 1_800_000_000)) == .seconds(60))
    }

    @Test func schedulesAreReadAsOpsWriteThem() {
        #expect(AppConfiguration.Outbound.parseSchedule("0s,5s,5m,30m,2h,5h,10h,10h") == Self.schedule)
        #expect(AppConfiguration.Outbound.parseSchedule("0s, 200ms,1s") == [.zero, .milliseconds(200), .seconds(1)])
        for bad in ["", "5", "5x", "-1s", "1s,,2s", "1d"] { #expect(AppConfiguration.Outbound.parseSchedule(bad) == nil, "\(bad)") }
    }
}
