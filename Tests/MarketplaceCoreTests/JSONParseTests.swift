import Foundation
import MarketplaceCore
import Testing

@Suite struct JSONParseTests {
    @Test func parsesWhatJSONDecoderParses() throws {
        let text = #"{"a":[1,-2.5e3,true,false,null],"s":"caf\u00e9 \"q\" \\ \n \ud83d\ude00 é","o":{"x":{}},"e":[]}"#
        let fast = try JSONValue.parse(Array(text.utf8))
        let reference = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(fast == reference)
        #expect(fast["s"]?.string == "café \"q\" \\ \n 😀 é")
        #expect(try JSONValue.parse(Array(fast.jsonText.utf8)) == fast)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "{\"a\":1} x", "\"\\ud800\"", "01x", "\"a\u{01}\""])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(text.utf8)) }
    }
}
