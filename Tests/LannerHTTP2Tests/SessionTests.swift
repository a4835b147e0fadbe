import Testing
@testable import LannerHTTP2

/// The sessions without sockets: client bytes go straight into the server session and back, so flow control and
/// the actions `receive` returns can be checked step by step.
struct InMemoryPair {
    let client: ClientSession
    let server: ServerSession
    let counters = ServerCounterCells()

    init(limits: H2Limits = .init()) throws {
        client = try ClientSession(maxResponseBodyBytes: 64 << 20)
        server = try ServerSession(limits: limits.normalized, peer: "memory", counters: counters)
    }

    /// Moves bytes both ways until neither side has anything to send; returns the requests the server handed out.
    /// `maxBuffered` records the most request bytes the server held at any point.
    @discardableResult
    func pump(maxBuffered: inout Int) -> [(streamID: Int32, request: H2Request)] {
        var delivered: [(streamID: Int32, request: H2Request)] = []
        for _ in 0..<10_000 {
            var toServer = OutputBuffer(), toClient = OutputBuffer()
            #expect(client.produce(into: &toServer, limit: 16_384 * 4))
            if !toServer.isEmpty {
                toServer.withUnsafeReadableBytes { bytes in
                    switch server.receive(bytes) {
                    case .requests(let r): delivered += r
                    case .failed(let reason): Issue.record("server session failed: \(reason)")
                    }
                }
            }
            maxBuffered = max(maxBuffered, server.bufferedBytes)
            #expect(server.produce(into: &toClient, limit: 1 << 30))
            if !toClient.isEmpty { toClient.withUnsafeReadableBytes { #expect(client.receive($0) == nil) } }
            if toServer.isEmpty && toClient.isEmpty { break }
        }
        return delivered
    }

    @discardableResult
    func pump() -> [(streamID: Int32, request: H2Request)] {
        var ignored = 0
        return pump(maxBuffered: &ignored)
    }
}

@Suite struct SessionTests {
    @Test func requestAndResponseAsActions() throws {
        let pair = try InMemoryPair()
        let (id, stream) = try pair.client.submit(method: "PUT", path: "/v1/x", authority: "collector:7443",
                                                  headers: [("X-Sensor", "s1")], body: [1, 2, 3])
        let delivered = pair.pump()
        try #require(delivered.count == 1)
        let (streamID, request) = delivered[0]
        #expect(streamID == id)
        #expect(request.method == "PUT" && request.path == "/v1/x" && request.authority == "collector:7443")
        #expect(request.body == [1, 2, 3] && request.peer == "memory")
        #expect(request.headers.map(\.name) == ["x-sensor", "content-length"])
        #expect(pair.server.withApplication == 1)
        #expect(!stream.complete)

        #expect(pair.server.respond(streamID: streamID, response: .text(201, "made")))
        #expect(!pair.server.respond(streamID: streamID, response: .text(500, "twice")))   // not twice
        pair.pump()
        #expect(stream.complete && stream.closed && stream.closeCode == 0)
        #expect(stream.status == 201 && stream.body == Array("made".utf8))
        #expect(stream.headers.contains { $0 == ("content-type", "text/plain; charset=utf-8") })
        #expect(pair.server.withApplication == 0 && pair.server.bufferedBytes == 0)
        #expect(pair.counters.requests.load(ordering: .relaxed) == 1)
    }

    /// While the application holds a request, a second upload on the same connection gets no flow-control
    /// credit beyond the cap: the server holds at most cap + connection window, and the upload resumes when
    /// the application answers.
    @Test func creditIsDeferredWhileTheApplicationHoldsRequests() throws {
        let limits = H2Limits(maxRequestBodyBytes: 256 << 10, maxBufferedBytesPerConnection: 256 << 10,
                              streamWindowBytes: 128 << 10, connectionWindowBytes: 128 << 10)
        let pair = try InMemoryPair(limits: limits)
        var peak = 0
        _ = try pair.client.submit(method: "POST", path: "/1", authority: "a", headers: [], body: bytes(200_000, seed: 1))
        let first = pair.pump(maxBuffered: &peak)
        try #require(first.count == 1)
        #expect(first[0].request.body == bytes(200_000, seed: 1))

        let (_, second) = try pair.client.submit(method: "POST", path: "/2", authority: "a", headers: [],
                                                 body: bytes(200_000, seed: 2))
        #expect(pair.pump(maxBuffered: &peak).isEmpty)   // stalled, not refused: the first is with the application
        #expect(peak <= (256 << 10) + (128 << 10))
        #expect(pair.server.bufferedBytes > 256 << 10)
        #expect(!second.closed)

        #expect(pair.server.respond(streamID: first[0].streamID, response: H2Response(status: 200)))
        let resumed = pair.pump(maxBuffered: &peak)
        try #require(resumed.count == 1)
        #expect(resumed[0].request.path == "/2" && resumed[0].request.body == bytes(200_000, seed: 2))
        #expect(peak <= (256 << 10) + (128 << 10))
    }

    /// Two half-sent uploads that together exceed the cap, nothing with the application, and the client out of
    /// window: neither could ever finish. The server refuses the newer one (REFUSED_STREAM) and the older completes.
    @Test func stuckConnectionRefusesTheNewestStream() throws {
        let limits = H2Limits(maxRequestBodyBytes: 200_000, maxBufferedBytesPerConnection: 200_000,
                              streamWindowBytes: 1 << 20, connectionWindowBytes: 100_000)
        let pair = try InMemoryPair(limits: limits)
        var peak = 0
        let (_, older) = try pair.client.submit(method: "POST", path: "/old", authority: "a", headers: [],
                                                body: bytes(180_000, seed: 3))
        let (_, newer) = try pair.client.submit(method: "POST", path: "/new", authority: "a", headers: [],
                                                body: bytes(180_000, seed: 4))
        let delivered = pair.pump(maxBuffered: &peak)
        #expect(delivered.map(\.request.path) == ["/old"])
        #expect(delivered.first?.request.body == bytes(180_000, seed: 3))
        #expect(newer.closed && newer.closeCode == 7)   // REFUSED_STREAM: safe to retry
        #expect(!older.closed)                          // waiting for its response
        #expect(peak <= 200_000 + 100_000)
        #expect(pair.counters.streamsReset.load(ordering: .relaxed) == 1)
    }

    @Test func declaredOversizeIsRejectedBeforeAnyData() throws {
        let pair = try InMemoryPair(limits: H2Limits(maxRequestBodyBytes: 1000))
        let (_, stream) = try pair.client.submit(method: "POST", path: "/big", authority: "a", headers: [],
                                                 body: bytes(5000, seed: 5))
        #expect(pair.pump().isEmpty)
        #expect(stream.status == 413 && stream.complete)
        #expect(String(decoding: stream.body, as: UTF8.self) == "request body exceeds the limit of 1000 bytes\n")
        #expect(pair.server.bufferedBytes == 0)
        #expect(pair.counters.responses4xx.load(ordering: .relaxed) == 1)
    }
}
