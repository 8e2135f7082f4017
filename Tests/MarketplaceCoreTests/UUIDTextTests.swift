import Foundation
import MarketplaceCore
import Testing

@Suite struct UUIDTextTests {
    @Test func lowercasedStringIsTheCanonicalLowercaseForm() {
        let id = UUID(uuidString: "3F2504E0-4F89-11D3-9A0C-0305E82C3301")!
        #expect(id.lowercasedString == "3f2504e0-4f89-11d3-9a0c-0305e82c3301")
        #expect(UUID(uuidString: "00000000-0000-0000-0000-000000000000")!.lowercasedString == "00000000-0000-0000-0000-000000000000")
        #expect(UUID(uuidString: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")!.lowercasedString == "ffffffff-ffff-ffff-ffff-ffffffffffff")
        for _ in 0..<1000 {
            let random = UUID()
            #expect(random.lowercasedString == random.uuidString.lowercased())
        }
    }
}
