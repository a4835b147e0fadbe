import Foundation
import Testing
@testable import LannerHTTP2

/// A normal client still gets answers.
func serverStillWorks(_ server: H2Server, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        let r = try client.request(path: "/after", body: [7, 7, 7], timeout: .seconds(5))
        #expect(r.status == 200 && r.body == [7, 7, 7], sourceLocation: sourceLocation)
    } catch {
        Issue.record("server no longer answers: \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct LimitTests {
    @Test func oversizedBodyGets413AndTheConnectionStaysUsable() throws {
        let server = try startServer(limits: H2Limits(maxRequestBodyBytes: 1 << 20))
        defer { server.stop() }
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        let r = try client.request(path: "/big", body: bytes(4 << 20, seed: 3))
        #expect(r.status == 413)
        #expect(String(decoding: r.body, as: UTF8.self) == "request body exceeds the limit of 1048576 bytes\n")
        // Exactly at the limit is fine, on the same connection.
        let ok = try client.request(path: "/edge", body: bytes(1 << 20, seed: 4))
        #expect(ok.status == 200 && ok.body.count == 1 << 20)
        #expect(server.counters.responses4xx == 1)
        #expect(server.counters.requestsDispatched == 1)
    }

    @Test func undeclaredOversizedBodyIsCutOffWhileStreaming() throws {
        // No content-length: the server only notices while the DATA arrives. 64,000 bytes stay inside the default
        // 65,535-byte windows, so this raw client is correct without waiting for the server's SETTINGS.
        let server = try startServer(limits: H2Limits(maxRequestBodyBytes: 40_000))
        defer { server.stop() }
        let raw = try RawConnection(port: server.boundPort)
        raw.send(Frames.preface + Frames.emptySettings + Frames.headers(stream: 1, block: Frames.requestBlock(), endStream: false))
        for _ in 0..<4 { raw.send(Frames.data(stream: 1, [UInt8](repeating: 0x61, count: 16_000), endStream: false)) }
        #expect(eventually { server.counters.responses4xx == 1 })
        let (reply, _) = raw.readUntilClosed(timeout: .milliseconds(500))
        // The reply carries a 413 HEADERS frame, the reason in DATA, then RST_STREAM(NO_ERROR) for stream 1.
        let hasReason = String(decoding: reply, as: UTF8.self).contains("request body exceeds the limit of 40000 bytes")
        #expect(hasReason)
        #expect(containsFrame(reply, type: 3, stream: 1), "no RST_STREAM for the refused upload")
        #expect(server.counters.requestsDispatched == 0)
        serverStillWorks(server)
    }

    @Test func hugeHeaderListGets431() throws {
        let server = try startServer(limits: H2Limits(maxHeaderListBytes: 16 << 10))
        defer { server.stop() }
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        let r = try client.request(path: "/h", headers: [("x-big", String(repeating: "b", count: 40_000))], body: [1])
        #expect(r.status == 431)
        #expect(String(decoding: r.body, as: UTF8.self).contains("header list exceeds the limit of 16384 bytes"))
        #expect(try client.request(path: "/ok", body: [2]).status == 200)
    }

    @Test func oversizedHeaderFieldEndsOnlyThatConnection() throws {
        // 200 KB in one field is beyond what nghttp2's HPACK decoder accepts: a connection error, not a crash.
        let server = try startServer()
        defer { server.stop() }
        let raw = try RawConnection(port: server.boundPort)
        let block = Frames.requestBlock(extra: [("x-huge", String(repeating: "z", count: 200_000))])
        var frames: [UInt8] = Frames.preface + Frames.emptySettings
        // HEADERS without END_HEADERS, then CONTINUATIONs of 16 KB.
        let chunks = stride(from: 0, to: block.count, by: 16_384).map { Array(block[$0..<min($0 + 16_384, block.count)]) }
        for (i, chunk) in chunks.enumerated() {
            let last = i == chunks.count - 1
            frames += Frames.frame(type: i == 0 ? 1 : 9, flags: (last ? 0x4 : 0) | (i == 0 ? 0x1 : 0), stream: 1, payload: chunk)
        }
        raw.send(frames)
        let (_, closed) = raw.readUntilClosed(timeout: .seconds(5))
        #expect(closed)
        #expect(eventually { server.counters.protocolErrors >= 1 })
        serverStillWorks(server)
    }

    @Test func connectionsBeyondTheLimitAreClosed() throws {
        let server = try startServer(limits: H2Limits(maxConnections: 3))
        defer { server.stop() }
        let held = try (0..<3).map { _ in try RawConnection(port: server.boundPort) }
        #expect(eventually { server.counters.connectionsOpen == 3 })
        let extra = try RawConnection(port: server.boundPort)
        #expect(extra.readUntilClosed(timeout: .seconds(3)).closed)
        #expect(server.counters.connectionsRejected == 1)
        held.forEach { $0.close() }
        #expect(eventually { server.counters.connectionsOpen == 0 })
        serverStillWorks(server)
    }

    @Test func idleConnectionsAreClosed() throws {
        let server = try startServer(limits: H2Limits(idleTimeout: .milliseconds(600)))
        defer { server.stop() }
        // A TCP connection that never sends the preface.
        let silent = try RawConnection(port: server.boundPort)
        let start = Date()
        #expect(silent.readUntilClosed(timeout: .seconds(5)).closed)
        #expect(Date().timeIntervalSince(start) >= 0.5)
        // An HTTP/2 client idle for longer gets GOAWAY; its next request fails with a typed error.
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        #expect(try client.request(path: "/1").status == 200)
        usleep(1_600_000)
        #expect(throws: H2Error.self) { try client.request(path: "/2") }
        #expect(!client.isOpen)
        #expect(server.counters.idleTimeouts >= 2)
        serverStillWorks(server)
    }
}

/// True when `bytes` (a server's output after its SETTINGS) contains a frame of `type` on `stream`.
func containsFrame(_ bytes: [UInt8], type: UInt8, stream: UInt32) -> Bool {
    var i = 0
    while i + 9 <= bytes.count {
        let length = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
        let s = UInt32(bytes[i + 5] & 0x7f) << 24 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 8 | UInt32(bytes[i + 8])
        if bytes[i + 3] == type && s == stream { return true }
        i += 9 + length
    }
    return false
}

/// Responders an application is sitting on.
final class HeldResponders: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(Int, H2Responder)] = []
    func add(_ size: Int, _ r: @escaping H2Responder) { lock.withLock { items.append((size, r)) } }
    var count: Int { lock.withLock { items.count } }
    func answerAll(status: Int = 200) {
        let all = lock.withLock { let a = items; items = []; return a }
        for (_, r) in all { r(H2Response(status: status)) }
    }
    func take() -> [H2Responder] { lock.withLock { let a = items.map(\.1); items = []; return a } }
}

@Suite struct HostileInputTests {
    @Test func garbageInsteadOfThePreface() throws {
        let server = try startServer()
        defer { server.stop() }
        let raw = try RawConnection(port: server.boundPort)
        raw.send(bytes(4096, seed: 11).map { $0 | 0x80 })   // never a valid preface or HTTP/1 method
        #expect(raw.readUntilClosed().closed)
        #expect(eventually { server.counters.protocolErrors == 1 })
        serverStillWorks(server)
    }

    @Test func http11GetsAnExplanationAndIsClosed() throws {
        let server = try startServer()
        defer { server.stop() }
        let raw = try RawConnection(port: server.boundPort)
        raw.send("GET /v1/alerts HTTP/1.1\r\nHost: collector\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n")
        let (reply, closed) = raw.readUntilClosed()
        let text = String(decoding: reply, as: UTF8.self)
        #expect(closed)
        #expect(text.hasPrefix("HTTP/1.1 505 HTTP Version Not Supported\r\n"))
        #expect(text.contains("h2c"))
        #expect(text.contains("--http2-prior-knowledge"))
        #expect(server.counters.http1Rejected == 1)
        serverStillWorks(server)
    }

    @Test func http1ArrivingByteByByteIsRecognized() throws {
        let server = try startServer()
        defer { server.stop() }
        let raw = try RawConnection(port: server.boundPort)
        for b in "POST /x HTTP/1.1\r\n\r\n".utf8 { raw.send([b]); usleep(1000) }
        #expect(String(decoding: raw.readUntilClosed().bytes, as: UTF8.self).hasPrefix("HTTP/1.1 505"))
    }

    @Test func tlsClientHelloIsRefused() throws {
        let server = try startServer()
        defer { server.stop() }
        let raw = try RawConnection(port: server.boundPort)
        raw.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03] + bytes(500, seed: 5))
        #expect(raw.readUntilClosed().closed)
        #expect(eventually { server.counters.protocolErrors == 1 })
        serverStillWorks(server)
    }

    @Test func truncatedFramesAndAbruptCloses() throws {
        let server = try startServer()
        defer { server.stop() }
        let cases: [[UInt8]] = [
            Array(Frames.preface.prefix(10)),                                                // half a preface
            Frames.preface,                                                                  // preface only
            Frames.preface + Array(Frames.emptySettings.prefix(5)),                          // half a frame header
            Frames.preface + Frames.frame(type: 4, flags: 0, stream: 0, payload: [0, 4], declaredLength: 12), // short SETTINGS
            Frames.preface + Frames.emptySettings + Array(Frames.headers(stream: 1, block: Frames.requestBlock(), endStream: true).prefix(20)),
            Frames.preface + Frames.emptySettings + Frames.frame(type: 0, flags: 0, stream: 0, payload: [1, 2, 3]), // DATA on stream 0
            Frames.preface + Frames.emptySettings + Frames.frame(type: 4, flags: 0, stream: 0, payload: [0, 4, 0xff, 0xff, 0xff, 0xff]), // window too large
            Frames.preface + Frames.emptySettings + Frames.frame(type: 1, flags: 5, stream: 2, payload: Frames.requestBlock()), // even stream id
        ]
        for (i, bytes) in cases.enumerated() {
            let raw = try RawConnection(port: server.boundPort)
            raw.send(bytes)
            if i % 2 == 0 { raw.reset() } else { _ = raw.readUntilClosed(timeout: .milliseconds(300)); raw.close() }
        }
        #expect(eventually { server.counters.connectionsOpen == 0 })
        // DATA on stream 0 and an even stream id are protocol errors whatever the timing; the others may end as
        // plain disconnects first.
        #expect(server.counters.protocolErrors >= 2)
        serverStillWorks(server)
    }

    @Test func disconnectMidBody() throws {
        let server = try startServer()
        defer { server.stop() }
        for abrupt in [false, true] {
            let raw = try RawConnection(port: server.boundPort)
            raw.send(Frames.preface + Frames.emptySettings
                     + Frames.headers(stream: 1, block: Frames.requestBlock(extra: [("content-length", "1000000")]), endStream: false)
                     + Frames.data(stream: 1, bytes(16_000, seed: 1), endStream: false))
            usleep(50_000)
            if abrupt { raw.reset() } else { raw.close() }
        }
        #expect(eventually { server.counters.connectionsOpen == 0 })
        #expect(server.counters.requests == 2)
        #expect(server.counters.requestsDispatched == 0)
        serverStillWorks(server)
    }

    @Test func responderCalledAfterTheClientLeft() throws {
        let held = HeldResponders()
        let server = try startServer { request, respond in
            if request.path == "/after" { echo(request, respond) } else { held.add(0, respond) }
        }
        defer { server.stop() }
        let raw = try RawConnection(port: server.boundPort)
        raw.send(Frames.preface + Frames.emptySettings + Frames.headers(stream: 1, block: Frames.requestBlock(), endStream: true))
        #expect(eventually { held.count == 1 })
        raw.reset()
        #expect(eventually { server.counters.connectionsOpen == 0 })
        let responders = held.take()
        DispatchQueue.global().sync { responders[0](H2Response(status: 200, body: [1, 2, 3])) }
        #expect(eventually { server.counters.lateResponses == 1 })
        serverStillWorks(server)
        // And after stop(), a responder is simply dropped.
        let late = try startServer { _, respond in held.add(0, respond) }
        let client = try H2Client(host: "127.0.0.1", port: late.boundPort)
        #expect(throws: H2Error.self) { try client.request(path: "/x", timeout: .milliseconds(200)) }
        late.stop()
        for r in held.take() { r(H2Response(status: 200)) }
        #expect(late.counters.lateResponses >= 1)
    }

    @Test func thousandsOfConnectsAndDisconnects() throws {
        let server = try startServer()
        defer { server.stop() }
        let n = 2000
        for i in 0..<n {
            let raw = try RawConnection(port: server.boundPort)
            switch i % 4 {
            case 0: break                                             // connect, close
            case 1: raw.send(Frames.preface)                          // partial session
            case 2: raw.send(Frames.preface + Frames.emptySettings); raw.reset()
            default: raw.send("GET / HTTP/1.1\r\n\r\n")              // HTTP/1 and leave
            }
            raw.close()
        }
        #expect(eventually(timeout: .seconds(10)) { server.counters.connectionsOpen == 0 })
        // A connection reset while still in the kernel's accept queue never reaches accept(2) (the kernel drops
        // it), so under load a few of the resetting quarter may not be counted; the rest must be.
        #expect(server.counters.connectionsAccepted <= n)
        #expect(server.counters.connectionsAccepted >= n - n / 4)
        // Every server-side socket was closed: none of them still has a descriptor.
        #expect(eventually { openServerSockets(port: server.boundPort) == 0 })
        serverStillWorks(server)
    }

    @Test func sessionSurvivesPingAndSettingsFloodsOrEndsCleanly() throws {
        let server = try startServer()
        defer { server.stop() }
        let raw = try RawConnection(port: server.boundPort)
        var flood = Frames.preface + Frames.emptySettings
        for i in 0..<20_000 {   // PINGs and SETTINGS without reading any ACK
            flood += Frames.frame(type: i % 2 == 0 ? 6 : 4, flags: 0, stream: 0, payload: i % 2 == 0 ? [UInt8](repeating: 1, count: 8) : [])
        }
        raw.send(flood)
        raw.close()
        #expect(eventually { server.counters.connectionsOpen == 0 })
        serverStillWorks(server)
    }
}

@Suite struct ClientErrorTests {
    @Test func refusedWhenNothingListens() throws {
        let server = try startServer()
        let port = server.boundPort
        server.stop()
        #expect(throws: H2Error.connectionRefused(host: "127.0.0.1", port: port)) {
            try H2Client(host: "127.0.0.1", port: port)
        }
    }

    @Test func typedErrorWhenTheServerGoesAway() throws {
        let server = try startServer()
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        #expect(try client.request(path: "/1").status == 200)
        server.stop()
        let error = try #require(throws: H2Error.self) { try client.request(path: "/2", timeout: .seconds(3)) }
        switch error {
        case .goAway(let code, _): #expect(code == 0)
        case .connectionClosed: break
        default: Issue.record("unexpected error \(error)")
        }
        #expect(!client.isOpen)
        #expect(throws: H2Error.self) { try client.request(path: "/3") }
    }

    @Test func timeoutLeavesTheConnectionUsable() throws {
        let held = HeldResponders()
        let server = try startServer { request, respond in
            if request.path == "/hang" { held.add(0, respond) } else { echo(request, respond) }
        }
        defer { server.stop() }
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        let start = Date()
        let error = try #require(throws: H2Error.self) { try client.request(path: "/hang", timeout: .milliseconds(300)) }
        guard case .timedOut = error else { Issue.record("expected timedOut, got \(error)"); return }
        #expect(Date().timeIntervalSince(start) >= 0.29)
        #expect(client.isOpen)
        #expect(try client.request(path: "/next", body: [5]).body == [5])
        // The cancelled stream's late answer is dropped by the server, not sent.
        held.answerAll()
        #expect(eventually { server.counters.lateResponses == 1 })
    }

    @Test func unresolvableHost() {
        #expect(throws: H2Error.self) { try H2Client(host: "no-such-host.invalid", port: 1) }
    }

    @Test func connectTimeout() throws {
        // A listener that never accepts, with its accept queue full: further SYNs are dropped, so connect hangs.
        let (fd, port) = try Socket.listen(host: "127.0.0.1", port: 0, backlog: 0)
        defer { _ = Glibc.close(fd) }
        let fillers = (0..<3).compactMap { _ in try? Socket.connect(host: "127.0.0.1", port: port, timeout: .milliseconds(200)) }
        defer { fillers.forEach { _ = Glibc.close($0) } }
        let start = Date()
        #expect(throws: H2Error.timedOut(operation: "connecting to 127.0.0.1:\(port)")) {
            try H2Client(host: "127.0.0.1", port: port, connectTimeout: .milliseconds(300))
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 0.29 && elapsed < 2)
    }

    @Test func responseTooLarge() throws {
        let server = try startServer { _, respond in respond(H2Response(status: 200, body: bytes(300_000, seed: 1))) }
        defer { server.stop() }
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort, maxResponseBodyBytes: 100_000)
        #expect(throws: H2Error.responseTooLarge(limit: 100_000)) { try client.request(path: "/") }
    }

    @Test func serverLifecycle() throws {
        let server = try H2Server(host: "127.0.0.1", port: 0, handler: echo)
        #expect(server.boundPort != 0)
        try server.start()
        #expect(throws: H2Error.self) { try server.start() }
        server.stop()
        server.stop()
        #expect(throws: H2Error.self) { try server.start() }
        // The port is free again.
        let again = try H2Server(host: "127.0.0.1", port: server.boundPort, handler: echo)
        again.stop()
        // Binding a port in use is a clear error.
        let a = try startServer()
        defer { a.stop() }
        let error = try #require(throws: H2Error.self) { try H2Server(host: "127.0.0.1", port: a.boundPort, handler: echo) }
        #expect(error == .system(call: "bind", errno: EADDRINUSE, context: "listening on 127.0.0.1:\(a.boundPort)"))
    }

    @Test func stopFromInsideTheHandler() throws {
        let box = ServerBox()
        let server = try startServer { request, respond in
            respond(H2Response(status: 200))
            box.server?.stop()
        }
        box.server = server
        let client = try H2Client(host: "127.0.0.1", port: server.boundPort)
        _ = try? client.request(path: "/", timeout: .seconds(2))
        #expect(eventually { (try? H2Client(host: "127.0.0.1", port: server.boundPort)) == nil })
        box.server = nil
    }
}

final class ServerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var _server: H2Server?
    var server: H2Server? {
        get { lock.withLock { _server } }
        set { lock.withLock { _server = newValue } }
    }
}

@Suite struct PrefaceSnifferTests {
    @Test(arguments: [
        ("", PrefaceSniffer.Verdict.needMore), ("PRI * HTTP/2", .needMore), ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", .http2),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nxyz", .http2), ("G", .needMore), ("GET", .needMore), ("GET /", .http1),
        ("POST /x HTTP/1.1", .http1), ("PRI * HTTP/1.1", .http1), ("get / HTTP/1.1", .garbage), (" GET", .garbage),
        ("\u{16}", .needMore), ("\u{16}\u{3}\u{1}", .tls), ("\u{0}\u{0}\u{12}\u{4}", .garbage),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", .garbage),
    ])
    func classifies(text: String, verdict: PrefaceSniffer.Verdict) {
        #expect(PrefaceSniffer.classify(Array(text.utf8)) == verdict)
    }
}
