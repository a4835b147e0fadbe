import Foundation
import Testing
@testable import LannerHTTP2

/// Runs a command, returning its exit status and combined output.
func run(_ path: String, _ arguments: [String], timeout: TimeInterval = 30) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

func installed(_ path: String) -> Bool { FileManager.default.isExecutableFile(atPath: path) }

/// Interoperability with nghttp2-client's tools and curl (scripts/install-deps.sh installs them).
@Suite struct ExternalToolTests {
    @Test(.enabled(if: installed("/usr/bin/nghttp"))) func nghttpGetsAResponse() throws {
        let server = try startServer { request, respond in
            respond(.text(200, "hello \(request.path)\n"))
        }
        defer { server.stop() }
        let (status, output) = try run("/usr/bin/nghttp", ["-nv", "http://127.0.0.1:\(server.boundPort)/x"])
        #expect(status == 0, "\(output)")
        #expect(output.contains(":status: 200"))
        #expect(output.contains("recv SETTINGS frame"))
        #expect(output.contains("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):64"))
        #expect(output.contains("SETTINGS_INITIAL_WINDOW_SIZE(0x04):16777216"))
        #expect(output.contains("recv WINDOW_UPDATE frame"))
        let (_, body) = try run("/usr/bin/nghttp", ["http://127.0.0.1:\(server.boundPort)/body"])
        #expect(body == "hello /body\n")
    }

    @Test(.enabled(if: installed("/usr/bin/curl"))) func curlPriorKnowledgeAndPlainHTTP1() throws {
        let server = try startServer()
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.boundPort)/curl"
        let (status, output) = try run("/usr/bin/curl", ["-sS", "--http2-prior-knowledge", "--data-binary", "abc", url])
        #expect(status == 0, "\(output)")
        #expect(output == "abc")
        // What users will try first: plain curl speaks HTTP/1.1 and gets the explanation.
        let (s1, o1) = try run("/usr/bin/curl", ["-sS", "-i", url])
        #expect(s1 == 0, "\(o1)")
        #expect(o1.hasPrefix("HTTP/1.1 505"))
        #expect(o1.contains("curl --http2-prior-knowledge"))
        #expect(server.counters.http1Rejected == 1)
    }

    @Test(.enabled(if: installed("/usr/bin/h2load"))) func h2loadManyStreams() throws {
        let server = try startServer()
        defer { server.stop() }
        let (status, output) = try run("/usr/bin/h2load", ["-n", "4000", "-c", "4", "-m", "16",
                                                           "http://127.0.0.1:\(server.boundPort)/load"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("4000 succeeded, 0 failed, 0 errored"), "\(output)")
        #expect(output.contains("status codes: 4000 2xx"), "\(output)")
        #expect(server.counters.requestsDispatched == 4000)
    }

    /// A slow application slows the client down instead of growing memory: with a 2 MiB cap and 1 MiB windows a
    /// connection never holds more than cap + window, and everything completes once the application answers.
    @Test(.enabled(if: installed("/usr/bin/h2load"))) func slowApplicationAppliesBackpressure() throws {
        let held = HeldResponders()
        let answering = Flag()
        let limits = H2Limits(maxRequestBodyBytes: 1 << 20, maxBufferedBytesPerConnection: 2 << 20,
                              streamWindowBytes: 1 << 20, connectionWindowBytes: 1 << 20)
        let server = try startServer(limits: limits) { request, respond in
            if answering.isSet { echo(request, respond) } else { held.add(request.body.count, respond) }
        }
        defer { server.stop() }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("h2-\(UUID().uuidString).bin")
        try Data(bytes(1 << 20, seed: 8)).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        let result = ResultBox()
        let load = Thread {
            result.set(try? run("/usr/bin/h2load", ["-n", "8", "-c", "1", "-m", "8", "-d", file.path,
                                                    "http://127.0.0.1:\(server.boundPort)/up"]))
        }
        load.start()
        #expect(eventually(timeout: .seconds(5)) { held.count >= 2 })
        usleep(500_000)
        let inHand = held.count
        #expect(inHand <= 3, "the application holds \(inHand) MiB although the cap is 2 MiB + 1 MiB window")
        answering.set()
        held.answerAll()
        #expect(eventually(timeout: .seconds(10)) { result.value != nil })
        let output = result.value?.output ?? ""
        #expect(output.contains("8 done"), "\(output)")
        // While all eight were half-received and stuck, the server refused the newest (REFUSED_STREAM; h2load
        // counts them failed and does not retry) so the oldest could finish; every one is either answered or refused.
        let c = server.counters
        #expect(c.requestsDispatched >= 2, "\(c)")
        #expect(c.requestsDispatched + c.streamsReset == 8, "\(c)")
        #expect(output.contains("\(c.requestsDispatched) succeeded"), "\(output)")
        serverStillWorks(server)
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (status: Int32, output: String)?
    var value: (status: Int32, output: String)? { lock.withLock { stored } }
    func set(_ v: (status: Int32, output: String)?) { lock.withLock { stored = v ?? (-1, "failed to run") } }
}
