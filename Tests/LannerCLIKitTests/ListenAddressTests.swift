import Testing
import LannerCLIKit

@Suite struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:7601", "127.0.0.1", 7601), ("0.0.0.0:0", "0.0.0.0", 0), ("[::1]:7601", "::1", 7601),
        ("[::]:9100", "::", 9100), ("::1:7601", "::1", 7601), ("collector:65535", "collector", 65535),
    ] as [(String, String, UInt16)])
    func parses(_ text: String, _ host: String, _ port: UInt16) throws {
        #expect(try ListenAddress(parsing: text) == ListenAddress(host: host, port: port))
    }

    @Test(arguments: [
        ("localhost", ListenAddress.Problem.notHostPort), ("host:99999", .notHostPort), ("host:", .notHostPort),
        ("host:x", .notHostPort), (":7601", .noHost), ("[]:7601", .noHost),
        ("host:+7601", .notHostPort), ("[::1:7601", .notHostPort), ("::1]:7601", .notHostPort), ("a b:7601", .notHostPort),
    ])
    func refuses(_ text: String, _ problem: ListenAddress.Problem) {
        #expect(throws: problem) { try ListenAddress(parsing: text) }
    }

    @Test func optionErrorsNameTheOption() {
        #expect(throws: CLIError.badValue(option: "listen", value: "nowhere", reason: "is not HOST:PORT")) {
            try ListenAddress(option: "listen", value: "nowhere")
        }
        let e = #expect(throws: CLIError.self) { try ListenAddress(option: "metrics-listen", value: ":9100") }
        #expect(e?.description == "option '--metrics-listen': ':9100' has no host (use 0.0.0.0:PORT for every address)")
    }
}
