import Testing
import LannerHTTP2

/// `http://HOST:PORT`, as `lanner-sensor --collector` and the query commands' `--collector` take it.
@Suite struct CollectorEndpointTests {
    @Test func collectorURLs() {
        #expect(CollectorEndpoint(url: "http://127.0.0.1:7601") == CollectorEndpoint(url: "http://127.0.0.1:7601/v1/x"))
        #expect(CollectorEndpoint(url: "http://127.0.0.1:7601")?.description == "http://127.0.0.1:7601")
        #expect(CollectorEndpoint(url: "http://[::1]:7601")?.host == "::1")
        #expect(CollectorEndpoint(url: "http://[::1]:7601")?.description == "http://[::1]:7601")
        #expect(CollectorEndpoint(url: "http://c:7601?x=1")?.host == "c")
        for bad in ["https://c:7601", "http://c", "http://:7601", "http://c:0", "http://c:99999", "c:7601", "http://[::1:7601",
                    "http://c:+7601", "http://c:-1", "http://a:b@c:7601", "http://user@c:7601", "http://c d:7601", "http://c:"] {
            #expect(CollectorEndpoint(url: bad) == nil, "\(bad)")
        }
    }
}
