import Foundation
import Testing
import LannerCore
import LannerStore
@testable import LannerOutputs

/// https against a local TLS server with throwaway self-signed certificates made by `openssl req`; nothing
/// here needs the internet.
@Suite struct TLSWebhookTests {
    /// Publishes one alert to a webhook at `url` that does not retry (`configure` sets the rest), waits until the
    /// output gives up on it, stops the hub and returns the output's final counters.
    static func giveUp(on url: String, _ configure: (inout WebhookOutputConfig) -> Void = { _ in },
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> OutputCounters {
        let hub = try OutputHub(config: webhookConfig(url) {
            $0.delivery.retries = 0
            configure(&$0)
        }, log: { _ in })
        hub.publish([alert(1)])
        #expect(waitUntil { hub.counters[0].gaveUp == 1 }, sourceLocation: sourceLocation)
        return hub.stop(timeout: .seconds(5))[0]
    }

    @Test func deliversWithTheCustomCA() throws {
        let dir = try TempDir()
        let cert = try TestCertificate(dir: dir, name: "lanner-test", subjectAltName: "DNS:localhost,IP:127.0.0.1")
        let server = try TestHTTPServer(tls: cert)
        // By name (SNI and name check; localhost may resolve to ::1 first, where nothing listens) and by address.
        for url in ["https://localhost:\(server.port)/tls-hook", "https://127.0.0.1:\(server.port)/tls-hook"] {
            let hub = try OutputHub(config: webhookConfig(url) { $0.caFile = cert.cert }, log: { _ in })
            hub.publish([alert(1), alert(2)])
            #expect(waitUntil { hub.counters[0].delivered == 2 }, "\(url): \(hub.counters[0])")
            let c = hub.stop(timeout: .seconds(5))[0]
            #expect(c.failedAttempts == 0)
        }
        let reqs = server.requests
        #expect(reqs.count == 4)
        #expect(reqs.map { $0.header("Host") } == ["localhost:\(server.port)", "localhost:\(server.port)", "127.0.0.1:\(server.port)", "127.0.0.1:\(server.port)"])
        #expect(reqs.allSatisfy { $0.method == "POST" && $0.target == "/tls-hook" && $0.header("Content-Type") == "application/json" })
        #expect(reqs.map(\.bodyText) == [alert(1), alert(2), alert(1), alert(2)].map { $0.jsonObject() })
        #expect(server.connections == 2)   // kept alive over TLS too
    }

    /// A certificate for another name, or one naming the host when the URL gives its address: the handshake
    /// refuses it and says which check failed.
    @Test(arguments: [
        (name: "other", subjectAltName: "DNS:other.example", host: "localhost",
         why: "the server's certificate is not valid for the name 'localhost' (hostname mismatch)"),
        (name: "named", subjectAltName: "DNS:localhost", host: "127.0.0.1",
         why: "the server's certificate is not valid for the address 127.0.0.1 (IP address mismatch)"),
    ])
    func refusesACertificateForAnotherNameOrAddress(_ t: (name: String, subjectAltName: String, host: String, why: String)) throws {
        let dir = try TempDir()
        let cert = try TestCertificate(dir: dir, name: t.name, subjectAltName: t.subjectAltName)
        let server = try TestHTTPServer(tls: cert)
        let c = try Self.giveUp(on: "https://\(t.host):\(server.port)/") { $0.caFile = cert.cert }
        #expect(c.delivered == 0)
        #expect(c.lastError == "POST https://\(t.host):\(server.port)/: TLS handshake with \(t.host):\(server.port) failed: " + t.why)
        #expect(server.requests.isEmpty)   // nothing was sent
    }

    /// Without ca_file only the system store is trusted, which does not know a self-signed certificate; a
    /// ca_file holding a different certificate does not help either.
    @Test func refusesAnUntrustedCertificate() throws {
        let dir = try TempDir()
        let cert = try TestCertificate(dir: dir, name: "server", subjectAltName: "DNS:localhost,IP:127.0.0.1")
        let stranger = try TestCertificate(dir: dir, name: "stranger", subjectAltName: "DNS:localhost")
        let server = try TestHTTPServer(tls: cert)
        for ca in [nil, stranger.cert] {
            let c = try Self.giveUp(on: "https://localhost:\(server.port)/") { $0.caFile = ca }
            #expect(c.lastError == "POST https://localhost:\(server.port)/: TLS handshake with localhost:\(server.port) failed: "
                    + "the server's certificate is not signed by a trusted CA (self-signed certificate); set ca_file to the CA that signed it")
        }
        #expect(server.requests.isEmpty)
    }

    /// A cleartext server never answers a TLS hello (it waits for an HTTP head): the handshake times out.
    @Test func httpsToACleartextServerTimesOut() throws {
        let server = try TestHTTPServer()
        let c = try Self.giveUp(on: "https://127.0.0.1:\(server.port)/") { $0.timeout = .milliseconds(300) }
        server.stop()
        // The cleartext server either waits for the end of a request head that never comes (the handshake times
        // out) or answers the ClientHello with an HTTP error first (not TLS): which depends on who is scheduled
        // first. Either way the error names the handshake.
        let timedOut = "POST https://127.0.0.1:\(server.port)/: timed out in the TLS handshake with 127.0.0.1:\(server.port)"
        let refused = "POST https://127.0.0.1:\(server.port)/: TLS handshake with 127.0.0.1:\(server.port) failed:"
        #expect(c.lastError == timedOut || c.lastError?.hasPrefix(refused) == true, "\(c.lastError ?? "nil")")
    }

    /// A server that answers TLS with garbage: a clear handshake error, no crash.
    @Test func httpsToAServerSpeakingHTTPFails() throws {
        let fake = try RawServer(reply: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        let c = try Self.giveUp(on: "https://127.0.0.1:\(fake.port)/")
        #expect(c.lastError?.hasPrefix("POST https://127.0.0.1:\(fake.port)/: TLS handshake with 127.0.0.1:\(fake.port) failed: ") == true, "\(c)")
    }

    @Test func badCAFileFailsAtStartup() throws {
        let dir = try TempDir()
        #expect(throws: OutputSetupError(output: "outputs.webhook", message: "ca_file '\(dir.file("none.pem"))': No such file or directory")) {
            try OutputHub(config: webhookConfig("https://localhost/") { $0.caFile = dir.file("none.pem") }, log: { _ in })
        }
        try "not a certificate\n".write(toFile: dir.file("junk.pem"), atomically: true, encoding: .utf8)
        do {
            _ = try OutputHub(config: webhookConfig("https://localhost/") { $0.caFile = dir.file("junk.pem") }, log: { _ in })
            Issue.record("accepted junk")
        } catch {
            #expect("\(error)".hasPrefix("outputs.webhook: ca_file '\(dir.file("junk.pem"))' holds no usable PEM certificate: "))
        }
        // The CA file is not needed for http://.
        let hub = try OutputHub(config: webhookConfig("http://localhost/") { $0.caFile = dir.file("none.pem") }, log: { _ in })
        hub.stop(timeout: .seconds(1))
    }
}
