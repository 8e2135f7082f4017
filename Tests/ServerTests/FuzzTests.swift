import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MarketplaceCore
import Nango
import NIOCore
import PostgresNIO
import Storage
import Testing
import TestSupport

@testable import Server

/// Hostile inputs at the three places outsiders reach: signed webhook bodies, bearer tokens and list parameters.
/// None may crash the server, hang it, or answer 5xx. `make test` runs a fixed-seed slice (`FUZZ_INPUTS`, 2,000 by
/// default); `make fuzz` runs the same generators for `FUZZ_SECONDS` with a fresh seed (`FUZZ_SEED` to replay).
@Suite(.timeLimit(.minutes(30))) struct FuzzTests {
    /// xorshift64*: reproducible from its seed, which every failure message carries.
    struct Generator {
        var state: UInt64
        init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
        mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
        mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
    }

    static let fragments = [
        #"\ud800"#, #"\udc00"#, #"\u0000"#, "\u{0}", "1e999", "-1e999", "123456789012345678901234567890", "NaN", "Infinity",
        "\u{FFFD}", "é", "😀", "\\", "\"", "{", "}", "[", "]", ",", ":", "null", "true", "",
    ]

    static func webhookBody(_ g: inout Generator) -> [UInt8] {
        let types = ["sync", "auth", "forward", "async_action", "nango", "", "event_callback"]
        let value = { (g: inout Generator) -> String in
            switch g.int(0...6) {
            case 0: return "\"" + g.pick(fragments) + "\""
            case 1: return g.pick(["1e999", "-0", "0.0000001", "18446744073709551616", "1E+400", "-1e-999"])
            case 2: return String(repeating: "[", count: g.int(1...2_000)) + String(repeating: "]", count: g.int(0...2_000))
            case 3: return "{\"a\":1,\"a\":2,\"a\":" + g.pick(["null", "{}", "[]"]) + "}"
            case 4: return "\"" + String(decoding: g.bytes(g.int(0...40)).map { $0 < 0x20 ? $0 | 0x40 : $0 }, as: UTF8.self).replacingOccurrences(of: "\"", with: "'").replacingOccurrences(of: "\\", with: "/") + "\""
            case 5: return g.pick(["true", "false", "null", "{}", "[]"])
            default: return "\"" + String(repeating: g.pick(["x", "\\u0000", "\\ud83d", "é"]), count: g.int(0...300)) + "\""
            }
        }
        var text: String
        switch g.int(0...5) {
        case 0:
            text = #"{"type":"\#(g.pick(types))","from":"nango","connectionId":\#(value(&g)),"providerConfigKey":\#(value(&g)),"model":\#(value(&g)),"syncName":"s","success":\#(g.pick(["true", "false", "1", "null"])),"responseResults":\#(value(&g))}"#
        case 1:
            text = #"{"type":"auth","from":"nango","operation":\#(value(&g)),"connectionId":"c","providerConfigKey":"p","success":true,"error":\#(value(&g)),"type":"sync"}"#
        case 2:
            text = #"{"type":"forward","from":\#(value(&g)),"connectionId":"c","providerConfigKey":"p","payload":\#(value(&g))}"#
        case 3:
            text = value(&g)
        case 4:
            text = #"{"type":"sync","checkpoints":\#(value(&g)),"connectionId":"c","providerConfigKey":"p","model":"M","syncName":"s","success":true,"modifiedAfter":\#(value(&g))}"#
        default:
            text = #"{"type":"sync","connectionId":"c","#
        }
        var bytes = Array(text.utf8)
        if g.int(0...4) == 0, !bytes.isEmpty {   // invalid UTF-8 somewhere
            bytes.insert(g.pick([0xFF, 0xC0, 0xED, 0xF8, 0x80]), at: g.int(0...(bytes.count - 1)))
        }
        if g.int(0...9) == 0, bytes.count > 2 { bytes.removeLast(g.int(1...(bytes.count - 1))) }   // truncated
        return bytes
    }

    static func token(_ g: inout Generator, valid: String) -> String {
        let parts = valid.split(separator: ".").map(String.init)
        switch g.int(0...6) {
        case 0: return String(decoding: g.bytes(g.int(0...200)).map { $0 % 94 + 33 }, as: UTF8.self)
        case 1: return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
        case 2: return parts[0] + "." + parts[1] + "." + String(parts[2].reversed())
        case 3: return parts[0] + "." + Data(g.bytes(g.int(0...300))).base64EncodedString() + "." + parts[2]
        case 4: return String(repeating: "a", count: g.int(1...8_000))
        case 5: return parts.joined(separator: g.pick(["..", ".", "", " "]))
        default: return parts[0] + "." + parts[1]
        }
    }

    static func listQuery(_ g: inout Generator) -> String {
        let names = ["limit", "cursor", "updated_since", "q", "sort", "include_deleted", "include", "x"]
        var items: [String] = []
        for _ in 0..<g.int(1...4) {
            let raw: String
            switch g.int(0...4) {
            case 0: raw = String(g.int(-5...100_000))
            case 1: raw = g.pick(["name", "-name", "updated_at", "-created_at", "raw", "true", "maybe", "2026-01-31T00:00:00Z", "yesterday"])
            case 2: raw = String(decoding: g.bytes(g.int(0...64)), as: UTF8.self)
            case 3: raw = String(repeating: "%", count: g.int(0...20)) + g.pick(["%00", "%ff", "%", "%zz", "'", "\\", "%27%3B--"])
            default: raw = Data(g.bytes(g.int(0...90))).base64EncodedString()
            }
            let encoded = raw.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            items.append(g.pick(names) + "=" + (g.int(0...3) == 0 ? raw.filter { $0.isASCII && !$0.isWhitespace && $0 != "#" } : encoded))
        }
        return items.joined(separator: "&")
    }

    @Test func hostileInputsNeverCrashHangOrAnswer5xx() async throws {
        let environment = TestEnvironment.process
        let seed = environment["FUZZ_SEED"].flatMap(UInt64.init) ?? 20_261_129
        let inputs = environment["FUZZ_INPUTS"].flatMap(Int.init) ?? 2_000
        let seconds = environment["FUZZ_SECONDS"].flatMap(Double.init)
        try await CompaniesAPITests.withSeeded(contacts: 20) { client, seeded, _ in
            var g = Generator(seed: seed)
            var counts = (webhooks: 0, tokens: 0, lists: 0)
            let start = Date()
            var index = 0
            while seconds.map({ Date().timeIntervalSince(start) < $0 }) ?? (index < inputs) {
                defer { index += 1 }
                let status: HTTPResponse.Status
                let what: String
                switch index % 3 {
                case 0:
                    let body = Self.webhookBody(&g)
                    var headers = WebhookTests.headers("")
                    headers[.nangoHmac] = NangoWebhookSignature.hmac(body: body, key: WebhookTests.key)
                    status = try await client.execute(uri: "/webhooks/nango", method: .post, headers: headers, body: ByteBuffer(bytes: body)).status
                    what = "webhook \(String(decoding: body.prefix(120), as: UTF8.self))"
                    counts.webhooks += 1
                case 1:
                    let token = Self.token(&g, valid: seeded.tokenA)
                    status = try await client.execute(
                        uri: "/api/companies/\(seeded.a)", method: .get, headers: [.authorization: "Bearer \(token)"]).status
                    what = "token \(token.prefix(80))"
                    counts.tokens += 1
                default:
                    let query = Self.listQuery(&g)
                    status = try await client.execute(
                        uri: "/api/companies/\(seeded.a)/contacts?\(query)", method: .get, headers: CompaniesAPITests.bearer(seeded.tokenA)).status
                    what = "list ?\(query.prefix(120))"
                    counts.lists += 1
                }
                if status.code >= 500 {
                    Issue.record("seed \(seed), input \(index): \(status.code) for \(what)")
                    return
                }
            }
            // `make fuzz` and the notes read this line.
            print("fuzz: seed \(seed): \(counts.webhooks) webhook bodies, \(counts.tokens) tokens, \(counts.lists) list queries, no 5xx, in \(Int(Date().timeIntervalSince(start))) s")
            #expect(counts.webhooks + counts.tokens + counts.lists >= min(inputs, 3))
        }
    }
}
