import Foundation
import Glibc
import Testing
@testable import LannerCollectorService
import LannerHTTP2
import LannerOutputs
import LannerStore
import LannerTestSupport
import LannerWire

/// /metrics (h2c and the HTTP/1.1 listener) and the outputs behind a real collector, on real sockets and a real
/// SQLite file.
@Suite struct MetricsTests {
    typealias H = CollectorServerTests

    @Test func histogramBucketsAndQuantiles() {
        var h = Histogram(bounds: [0.001, 0.01, 0.1])
        #expect(h.quantile(0.5) == nil)
        for v in [0.0005, 0.0005, 0.005, 0.05, 5.0] { h.observe(v) }
        #expect(h.buckets == [2, 1, 1, 1])
        #expect(h.count == 5)
        #expect(abs(h.sum - 5.056) < 1e-9)
        #expect(h.quantile(0.4) == 0.001)
        #expect(h.quantile(0.6) == 0.01)
        #expect(h.quantile(0.99) == .infinity)
        h.observe(0.001)   // a bound is inclusive (le)
        #expect(h.buckets == [3, 1, 1, 1])
    }

    @Test func labelValuesAreEscapedAndHistogramsAreCumulative() {
        var w = PrometheusText.Writer()
        w.sample("x_total", [("rule", "a \"quoted\" \\ rule\nsecond line")], 3)
        #expect(w.text == "x_total{rule=\"a \\\"quoted\\\" \\\\ rule\\nsecond line\"} 3\n")
        var h = Histogram(bounds: [0.5, 1])
        h.observe(0.25)
        h.observe(0.75)
        h.observe(2)
        var w2 = PrometheusText.Writer()
        w2.histogram("t_seconds", "help", h)
        #expect(w2.text == """
            # HELP t_seconds help
            # TYPE t_seconds histogram
            t_seconds_bucket{le="0.5"} 1
            t_seconds_bucket{le="1"} 2
            t_seconds_bucket{le="+Inf"} 3
            t_seconds_sum 3
            t_seconds_count 3

            """)
    }

    /// The HTTP/1.1 listener's answers, without sockets.
    @Test(arguments: [
        ("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n\r\n", "HTTP/1.1 200 OK", "body"),
        ("GET /metrics?x=1 HTTP/1.0\r\nauthorization:   Bearer s3cret  \r\n\r\n", "HTTP/1.1 200 OK", "body"),
        ("HEAD /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n", "HTTP/1.1 200 OK", "Content-Length: 4\r\n"),
        ("GET /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 401 Unauthorized", "WWW-Authenticate: Bearer"),
        ("GET /metrics HTTP/1.1\r\nAuthorization: Bearer wrong\r\n\r\n", "HTTP/1.1 401 Unauthorized", "missing or wrong bearer token"),
        ("GET /metrics HTTP/1.1\r\nAuthorization: Basic czNjcmV0\r\n\r\n", "HTTP/1.1 401 Unauthorized", ""),
        ("POST /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n", "HTTP/1.1 405 Method Not Allowed", "Allow: GET, HEAD"),
        ("GET /v1/batches HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found", "no such endpoint: /v1/batches"),
        ("GET /metrics\r\n\r\n", "HTTP/1.1 400 Bad Request", "malformed request line"),
        ("PRI * HTTP/2.0\r\n\r\n", "HTTP/1.1 400 Bad Request", "malformed request line"),
    ])
    func listenerAnswers(_ request: String, _ statusLine: String, _ contains: String) {
        let reply = String(decoding: MetricsListener.answer(head: Array(request.utf8), token: "s3cret", render: { "body" }), as: UTF8.self)
        #expect(reply.hasPrefix(statusLine + "\r\n"), "\(reply)")
        #expect(reply.contains("Connection: close\r\n"))
        if !contains.isEmpty { #expect(reply.contains(contains), "\(reply)") }
        if request.hasPrefix("HEAD") { #expect(reply.hasSuffix("\r\n\r\n"), "HEAD has no body") }
    }

    @Test func aNonUTF8HeadIsABadRequest() {
        let reply = String(decoding: MetricsListener.answer(head: [0x47, 0x45, 0x54, 0x20, 0xff, 0x0d, 0x0a, 0x0d, 0x0a], token: "t",
                                                            render: { "" }), as: UTF8.self)
        #expect(reply.hasPrefix("HTTP/1.1 400 Bad Request"))
    }

    /// A batch that raises an alert reaches the file output with its stored row id, and both /metrics
    /// endpoints count it: per rule and priority, per sensor, with evaluation and commit histograms.
    /// What `serve` prints after "cannot serve metrics on HOST:PORT: ".
    @Test func listenerSetupErrorsSayWhatFailed() throws {
        let byName = #expect(throws: MetricsListener.ListenError.self) {
            try MetricsListener(host: "localhost", port: 0, token: "t", log: { _ in }) { "" }
        }
        #expect(byName?.description.hasPrefix("'localhost' is not a numeric IPv4 or IPv6 address (") == true, "\(byName.map(\.description) ?? "")")
        let first = try MetricsListener(host: "127.0.0.1", port: 0, token: "t", log: { _ in }) { "" }
        defer { first.stop() }
        let taken = #expect(throws: MetricsListener.ListenError.self) {
            try MetricsListener(host: "127.0.0.1", port: first.port, token: "t", log: { _ in }) { "" }
        }
        #expect(taken?.description == "cannot bind 127.0.0.1:\(first.port): Address already in use")
        let v6 = try MetricsListener(host: "::1", port: 0, token: "t", log: { _ in }) { "" }
        #expect(v6.port != 0)
        v6.stop()
    }

    @Test func alertsReachOutputsAndMetricsOnBothPorts() throws {
        let dir = NSTemporaryDirectory() + "lanner-metrics-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var outputs = OutputsConfig()
        var file = FileOutputConfig()
        file.path = dir + "/alerts.jsonl"
        outputs.file = file
        let sink = H.LogSink()
        let hub = try OutputHub(config: outputs, log: { sink.append($0) })
        var cfg = CollectorConfig(token: "s3cret", rules: try AnalyzerTests.rules())
        cfg.port = 0
        cfg.databasePath = dir + "/lanner.db"
        cfg.log = { sink.append($0) }
        let server = try CollectorServer(config: cfg, outputs: hub)
        try server.start()
        let listener = try MetricsListener(host: "127.0.0.1", port: 0, token: "s3cret", log: { sink.append($0) }) { server.metricsText() }
        listener.start()
        defer {
            listener.stop()
            server.stop()
            hub.stop(timeout: .seconds(2))
        }

        let c = try H2Client(host: "127.0.0.1", port: server.port)
        let batch = Rec.batch(AnalyzerTests.family + [
            Rec.clone(parent: 50, child: 80),
            Rec.exec(pid: 80, ppid: 50, comm: "sh", exe: "/usr/bin/dash", args: ["sh", "-c", "id"]),
        ], seq: 7, readFailures: 4)
        let events = try BatchDecoder.decode(batch).records.count
        #expect(try H.post(c, batch).0 == 200)
        #expect(try H.post(c, batch).0 == 200)   // a resend: duplicate
        #expect(try H.post(c, Array("junk".utf8)).0 == 400)

        // The output got the stored alert, with the id the database gave it.
        let stored = try AlertStore(path: dir + "/lanner.db", readOnly: true).query(AlertQuery())
        #expect(stored.count == 1)
        var line = ""
        for _ in 0..<100 {
            line = (try? String(contentsOfFile: dir + "/alerts.jsonl", encoding: .utf8)) ?? ""
            if line.hasSuffix("\n") { break }
            usleep(20_000)
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(json["rule"] as? String == "Shell spawned by an unexpected parent")
        let extras = try #require(json["lanner"] as? [String: Any])
        #expect((extras["id"] as? NSNumber)?.int64Value == stored[0].id)
        #expect(hub.counters.first?.delivered == 1)

        // h2c: token required.
        #expect(try c.request(method: "GET", path: "/metrics").status == 401)
        let h2 = try c.request(method: "GET", path: "/metrics", headers: [("authorization", "Bearer s3cret")])
        #expect(h2.status == 200)
        #expect(h2.headers.contains { $0.name == "content-type" && $0.value.hasPrefix("text/plain; version=0.0.4") })
        let text = String(decoding: h2.body, as: UTF8.self)
        let sensor = "sensor=\"\(try BatchDecoder.decode(batch).header.sensorID.description)\""
        #expect(text.contains("lanner_alerts_total{rule=\"Shell spawned by an unexpected parent\",priority=\"Warning\"} 1\n"), "\(text)")
        #expect(text.contains("lanner_batches_total{result=\"committed\"} 1\n"))
        #expect(text.contains("lanner_batches_total{result=\"duplicate\"} 1\n"))
        #expect(text.contains("lanner_batches_total{result=\"rejected_malformed\"} 1\n"))
        #expect(text.contains("lanner_events_received_total{\(sensor),host=\"test-host\"} \(2 * events)\n"), "\(text)")
        #expect(text.contains("lanner_events_evaluated_total{\(sensor),host=\"test-host\"} \(2 * events)\n"))
        #expect(text.contains("lanner_events_dropped_total{\(sensor),host=\"test-host\",stage=\"kernel\"} 0\n"))
        #expect(text.contains("lanner_sensor_read_failures_total{\(sensor),host=\"test-host\"} 4\n"), "\(text)")
        #expect(text.contains("lanner_rule_evaluation_seconds_count 2\n"))
        #expect(text.contains("lanner_sqlite_commit_seconds_count 2\n"))
        #expect(text.contains("lanner_output_alerts_total{output=\"file\",result=\"delivered\"} 1\n"))
        #expect(text.contains("lanner_rules_running \(try AnalyzerTests.rules().count)\n"))
        // Every sample line is NAME{LABELS} VALUE or NAME VALUE, every family declared before its samples.
        var declared: Set<String> = []
        for l in text.split(separator: "\n") {
            if l.hasPrefix("# TYPE ") { declared.insert(String(l.split(separator: " ")[2])) }
            if l.hasPrefix("#") { continue }
            let name = String(l.prefix { $0 != "{" && $0 != " " })
            let family = ["_bucket", "_sum", "_count"].reduce(name) { n, s in n.hasSuffix(s) && declared.contains(String(n.dropLast(s.count))) ? String(n.dropLast(s.count)) : n }
            #expect(declared.contains(family), "\(l) has no TYPE line before it")
            #expect(Double(l.split(separator: " ").last!) != nil || l.hasSuffix("+Inf"), "\(l)")
        }

        // The plain HTTP/1.1 listener serves the same text.
        let reply = try Self.http1(port: listener.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n\r\n")
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(reply.contains("lanner_alerts_total{rule=\"Shell spawned by an unexpected parent\",priority=\"Warning\"} 1\n"))
        #expect(try Self.http1(port: listener.port, "GET /metrics HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 401"))
        // A client that sends half a head and goes quiet is dropped after the timeout; the next one is served.
        let quiet = try Self.connect(port: listener.port)
        defer { Glibc.close(quiet) }
        _ = "GET /met".withCString { send(quiet, $0, 8, 0) }
        #expect(try Self.http1(port: listener.port, "GET /metrics HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n").hasPrefix("HTTP/1.1 200"))
    }

    static func connect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(rc == 0)
        return fd
    }

    /// One HTTP/1.1 exchange on a fresh connection; the reply up to the server's close.
    static func http1(port: UInt16, _ request: String) throws -> String {
        let fd = try connect(port: port)
        defer { Glibc.close(fd) }
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
