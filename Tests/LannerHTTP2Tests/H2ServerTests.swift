import Foundation
import Testing
@testable import LannerHTTP2

@Suite struct RoundTripTests {
    @Test func smallRequestRoundTrips() throws {
        let server = try startServer()
        defer { server.stop() }
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        let response = try client.request(method: "POST", path: "/v1/batches?x=1", headers: [("X-Test", "hello")],
                                          body: Array("ping".utf8))
        #expect(response.status == 200)
        #expect(response.body == Array("ping".utf8))
        #expect(response.header("x-method") == "POST")
        #expect(response.header("x-path") == "/v1/batches?x=1")
        #expect(response.header("x-authority") == "127.0.0.1:\(server.boundPort)")
        #expect(response.header("x-test") == "hello")
        #expect(response.header("x-peer")?.hasPrefix("127.0.0.1:") == true)
        #expect(response.header("content-length") == "4")

        let get = try client.request(method: "GET", path: "/health")
        #expect(get.status == 200)
        #expect(get.body.isEmpty)
        #expect(get.header("x-method") == "GET")
        client.close()
        #expect(eventually { server.counters.connectionsOpen == 0 })
        let c = server.counters
        #expect(c.connectionsAccepted == 1)
        #expect(c.requests == 2 && c.requestsDispatched == 2)
        #expect(c.bytesIn > 4 && c.bytesOut > 4)
        #expect(c.protocolErrors == 0 && c.responses4xx == 0 && c.responses5xx == 0)
    }

    @Test func sixteenMebibyteBodiesEchoByteExact() throws {
        let server = try startServer()
        defer { server.stop() }
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        for seed in [1, 2] as [UInt64] {
            let body = bytes(16 << 20, seed: seed)
            let response = try client.request(path: "/big", body: body, timeout: .seconds(30))
            #expect(response.status == 200)
            #expect(response.body.count == body.count)
            #expect(response.body == body)
        }
        #expect(server.counters.bytesIn > 32 << 20)
        #expect(server.counters.bytesOut > 32 << 20)
    }

    @Test func manyClientsInParallel() throws {
        let server = try startServer()
        defer { server.stop() }
        let clients = 20, perClient = 50
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: clients) { i in
            do {
                let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
                for j in 0..<perClient {
                    let body = bytes(1000 + i * 37 + j, seed: UInt64(i * 1000 + j + 1))
                    let r = try client.request(path: "/c/\(i)/\(j)", body: body, timeout: .seconds(20))
                    if r.status != 200 || r.body != body || r.header("x-path") != "/c/\(i)/\(j)" {
                        failures.add("client \(i) request \(j): status \(r.status), \(r.body.count) bytes")
                    }
                }
            } catch {
                failures.add("client \(i): \(error)")
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")
        #expect(server.counters.requestsDispatched == clients * perClient)
        #expect(server.counters.connectionsAccepted == clients)
    }

    @Test func handlerAnswersLaterFromAnotherThread() throws {
        let queue = DispatchQueue(label: "slow-app", attributes: .concurrent)
        let server = try startServer { request, respond in
            queue.asyncAfter(deadline: .now() + .milliseconds(300)) {
                respond(H2Response(status: 202, headers: [("x-thread", "app")], body: request.body.reversed()))
            }
        }
        defer { server.stop() }
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        let start = Date()
        let response = try client.request(path: "/slow", body: [1, 2, 3])
        #expect(Date().timeIntervalSince(start) >= 0.29)
        #expect(response.status == 202)
        #expect(response.body == [3, 2, 1])
        #expect(response.header("x-thread") == "app")
    }

    @Test func respondingTwiceSendsOnlyTheFirst() throws {
        let server = try startServer { _, respond in
            respond(.text(201, "first"))
            respond(.text(500, "second"))
        }
        defer { server.stop() }
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        let r = try client.request(path: "/twice")
        #expect(r.status == 201 && r.body == Array("first".utf8))
        #expect(try client.request(path: "/again").status == 201)
        #expect(server.counters.responses5xx == 0)
    }

    @Test func droppedResponderAnswers500() throws {
        let server = try startServer { _, _ in }   // never answers, drops the responder
        defer { server.stop() }
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        let r = try client.request(path: "/forgotten")
        #expect(r.status == 500)
        #expect(String(decoding: r.body, as: UTF8.self).contains("did not answer"))
        #expect(server.counters.responses5xx == 1)
    }

    @Test func responseHeadersAreSanitized() throws {
        let server = try startServer { _, respond in
            respond(H2Response(status: 200, headers: [("X-Upper", "ok"), ("connection", "close"),
                                                      ("transfer-encoding", "chunked"), ("x-bad", "a\r\nb"),
                                                      (":status", "404"), ("content-length", "999")],
                               body: [9]))
        }
        defer { server.stop() }
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        let r = try client.request(path: "/")
        #expect(r.status == 200)
        #expect(r.body == [9])
        #expect(r.header("x-upper") == "ok")
        #expect(r.header("connection") == nil && r.header("transfer-encoding") == nil && r.header("x-bad") == nil)
        #expect(r.header("content-length") == "1")
    }

    @Test func invalidStatusBecomes500() throws {
        let server = try startServer { _, respond in respond(H2Response(status: 42)) }
        defer { server.stop() }
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        #expect(try client.request(path: "/").status == 500)
    }
}

/// Thread-safe list of failure messages.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.withLock { items.append(s) } }
    var all: [String] { lock.withLock { items } }
}
