import Foundation
import Storage
import Testing

@testable import Query

/// The list parameters and cursors, without sockets: what a business list accepts, what it refuses and why.
@Suite struct ListRequestTests {
    static let signer = PageCursor.Signer(secret: "test-jwt-secret-that-is-long-enough-0123456789")

    @Test func aCursorComesBackAsItWasGivenOnlyForItsOwnList() throws {
        let cursor = PageCursor(sort: "name", value: "Ada Lovelace", id: "0b7c", scope: "contacts|company-a|")
        let text = Self.signer.encode(cursor)
        #expect(try Self.signer.decode(text, scope: "contacts|company-a|") == cursor)
        #expect(throws: QueryParameterError(parameter: "cursor", message: "belongs to another list or other filters")) {
            try Self.signer.decode(text, scope: "contacts|company-b|")
        }
        let tampered = String(text.dropLast(2)) + (text.hasSuffix("AA") ? "BB" : "AA")
        #expect(throws: QueryParameterError(parameter: "cursor", message: "is not a cursor this list handed out")) {
            try Self.signer.decode(tampered, scope: "contacts|company-a|")
        }
        let otherSecret = PageCursor.Signer(secret: "another-secret-that-is-long-enough-0123456789")
        #expect(throws: QueryParameterError.self) { try otherSecret.decode(text, scope: "contacts|company-a|") }
    }

    @Test func parametersAreCheckedAndNamedWhenRefused() throws {
        let request = try ListRequestParser.parse(["limit": "20", "sort": "-name", "q": "  ada  "], scope: "s", signer: Self.signer)
        #expect(request.limit == 20 && request.sort == .name && request.descending && request.search == "ada")
        let refusals: [([String: String], String)] = [
            (["limit": "0"], "limit"), (["limit": "501"], "limit"), (["limit": "ten"], "limit"),
            (["sort": "price"], "sort"), (["updated_since": "yesterday"], "updated_since"),
            (["q": String(repeating: "a", count: 201)], "q"), (["colour": "red"], "colour"), (["q": "a\u{0}b"], "q"),
        ]
        for (parameters, named) in refusals {
            #expect(throws: QueryParameterError.self, "\(parameters)") { try ListRequestParser.parse(parameters, scope: "s", signer: Self.signer) }
            do {
                _ = try ListRequestParser.parse(parameters, scope: "s", signer: Self.signer)
            } catch {
                #expect(error.parameter == named, "\(parameters)")
            }
        }
    }
}
