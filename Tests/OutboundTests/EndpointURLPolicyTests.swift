import Testing

@testable import Outbound

@Suite struct EndpointURLPolicyTests {
    @Test func internalAddressesAreRecognised() {
        for address in ["127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "0.0.0.0",
                        "100.64.0.1", "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "224.0.0.1"] {
            #expect(EndpointURLPolicy.isInternal(address), "\(address)")
        }
        for address in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            #expect(!EndpointURLPolicy.isInternal(address), "\(address)")
        }
    }

    @Test func onlyHTTPSUnlessAllowedAndNoCredentials() async {
        let strict = EndpointURLPolicy(allowHTTP: false, allowPrivateNetworks: false)
        #expect(throws: EndpointURLPolicy.Refusal.self) { try strict.checkForm("http://example.com/hook") }
        #expect(throws: EndpointURLPolicy.Refusal.self) { try strict.checkForm("ftp://example.com/hook") }
        #expect(throws: EndpointURLPolicy.Refusal.self) { try strict.checkForm("https://user:pw@example.com/hook") }
        #expect(throws: EndpointURLPolicy.Refusal.self) { try strict.checkForm("not a url") }
        #expect((try? strict.checkForm("https://example.com/hook")) != nil)
        let http = EndpointURLPolicy(allowHTTP: true, allowPrivateNetworks: false)
        #expect((try? http.checkForm("http://example.com/hook")) != nil)
        await #expect(throws: EndpointURLPolicy.Refusal.self) { try await http.check("http://127.0.0.1:8080/hook") }
        await #expect(throws: EndpointURLPolicy.Refusal.self) { try await http.check("http://[::1]:8080/hook") }
        await #expect(throws: EndpointURLPolicy.Refusal.self) { try await http.check("http://localhost:8080/hook") }
        let open = EndpointURLPolicy(allowHTTP: true, allowPrivateNetworks: true)
        await #expect(throws: Never.self) { try await open.check("http://127.0.0.1:8080/hook") }
    }
}
