import Foundation
import Glibc
import Testing
import LannerCollectorService
import LannerHTTP2
import LannerStore
import LannerTestSupport
import LannerWire

/// The collector in-process over real sockets with a temporary SQLite file: every bad request gets a 4xx,
/// every valid batch is stored exactly once, and the server is alive at the end.
@Suite struct AdversarialServerTests {
    final class Server: @unchecked Sendable {
        let dir: String
        let server: CollectorServer
        var dbPath: String { dir + "/db/lanner.db" }

        init(queueLimit: Int = 8) throws {
            dir = NSTemporaryDirectory() + "adv-server-" + UUID().uuidString
            var cfg = CollectorConfig(token: "s3cret", rules: try AnalyzerTests.rules())
            cfg.port = 0
            cfg.databasePath = dir + "/db/lanner.db"
            cfg.queueLimit = queueLimit
            cfg.log = { _ in }
            server = try CollectorServer(config: cfg)
            try server.start()
        }

        func client() throws -> H2Client { try H2Client(host: "127.0.0.1", port: server.port) }

        func healthy() -> Bool {
            guard let c = try? client() else { return false }
            defer { c.close() }
            return (try? c.request(method: "GET", path: "/v1/health", timeout: .seconds(5)).status) == 200
        }

        func batchCount() throws -> Int { try AlertStore(path: dbPath, readOnly: true).batchCount() }

        deinit {
            server.stop()
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    static func post(_ c: H2Client, _ body: [UInt8], headers: [(name: String, value: String)]? = nil,
                     method: String = "POST", path: String = "/v1/batches") throws -> (Int, String) {
        let h = headers ?? [("content-type", "application/x-lanner-batch"), ("authorization", "Bearer s3cret")]
        let r = try c.request(method: method, path: path, headers: h, body: body, timeout: .seconds(20))
        return (r.status, String(decoding: r.body, as: UTF8.self))
    }

    static func batch(sensor: UInt8, seq: UInt64) throws -> [UInt8] {
        var enc = BatchEncoder()
        for r in AnalyzerTests.family + [Rec.clone(parent: 50, child: 80),
                                         Rec.exec(pid: 80, ppid: 50, comm: "sh", exe: "/usr/bin/dash", args: ["sh"])] {
            try enc.append(record: r)
        }
        return try enc.finish(header: BatchHeader(sequence: seq, bootTimeUnixNs: 1, sensorID: ID128(bytes: [UInt8](repeating: sensor, count: 16)),
                                                  bootID: .zero, hostname: "h\(sensor)", sensorVersion: "t"))
    }

    // MARK: - Hardening

    @Test func garbageAndEmptyBodiesAreAnswered400WithAReason() throws {
        let s = try Server()
        let c = try s.client()
        let good = try Self.batch(sensor: 1, seq: 1)
        let bodies: [(String, [UInt8])] = [
            ("empty", []),
            ("one byte", [0]),
            ("text", Array("hello, collector".utf8)),
            ("HTTP/1 in the body", Array("GET / HTTP/1.1\r\n\r\n".utf8)),
            ("magic only", Array("LNRB".utf8)),
            ("zeros", [UInt8](repeating: 0, count: 4096)),
            ("0xff", [UInt8](repeating: 0xff, count: 70_000)),
            ("truncated good", Array(good.dropLast(1))),
            ("good plus one", good + [0]),
            ("good twice", good + good),
        ]
        for (what, body) in bodies {
            let (st, text) = try Self.post(c, body)
            #expect(st == 400, "\(what): status \(st) \(text)")
            #expect(text.contains("malformed batch"), "\(what): \(text)")
        }
        #expect(try s.batchCount() == 0)
        #expect(s.healthy())
    }

    @Test func wrongMethodsAndPathsAre4xx() throws {
        let s = try Server()
        let c = try s.client()
        let good = try Self.batch(sensor: 1, seq: 1)
        let cases: [(String, String)] = [("GET", "/v1/batches"), ("PUT", "/v1/batches"), ("DELETE", "/v1/batches"),
                                         ("PATCH", "/v1/batches"), ("POST", "/v1/health"), ("POST", "/v1/batches/"),
                                         ("POST", "/v1/batches?x=1"), ("POST", "/V1/BATCHES"), ("POST", "//v1/batches"),
                                         ("POST", "/v1/batches/../batches"), ("POST", "/" + String(repeating: "a", count: 8000)),
                                         ("OPTIONS", "*"), ("FROB", "/v1/batches")]
        for (m, p) in cases {
            let (st, _) = try Self.post(c, good, method: m, path: p)
            #expect((400..<500).contains(st), "\(m) \(p): \(st)")
        }
        #expect(try s.batchCount() == 0)
        #expect(s.healthy())
    }

    @Test func oddAuthorizationHeadersAre401AndNothingIsStored() throws {
        let s = try Server()
        let good = try Self.batch(sensor: 1, seq: 1)
        let values: [String?] = [nil, "", "Bearer", "Bearer ", "bearer x", "Bearer x", "Bearer s3cre", "Bearer s3crett",
                                 "Basic czNjcmV0", "Bearer  s3cret", "s3cret", "Bearer s3cret\u{1}",
                                 "Bearer " + String(repeating: "A", count: 8 << 10),
                                 "Bearer " + String(repeating: "A", count: 60 << 10)]
        for v in values {
            let c = try s.client()
            var h: [(name: String, value: String)] = [("content-type", "application/x-lanner-batch")]
            if let v { h.append(("authorization", v)) }
            let st = (try? Self.post(c, good, headers: h).0) ?? -1
            // 401, or the stream/connection refused at the HTTP/2 level (431, reset) — never stored.
            #expect(st != 200, "authorization \(v.map { String($0.prefix(20)) } ?? "nil") was accepted")
            c.close()
        }
        // A header list over the server's 64 KiB limit.
        let c = try s.client()
        let st = (try? Self.post(c, good, headers: [("authorization", "Bearer " + String(repeating: "A", count: 100 << 10))]).0) ?? -1
        #expect(st != 200)
        #expect(try s.batchCount() == 0)
        #expect(s.healthy())
    }

    @Test func validBatchFollowedByGarbageOnTheSameConnectionIsStoredExactlyOnce() throws {
        let s = try Server()
        let good = try Self.batch(sensor: 9, seq: 77)
        for garbage: [UInt8] in [[UInt8](repeating: 0xff, count: 64), Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
                                 [0, 0, 4, 1, 0, 0, 0, 0, 3, 1, 2, 3, 4]] {   // a HEADERS frame on an even stream id
            let fd = try RawH2.connect(port: s.server.port)
            var out = RawH2.preface + RawH2.frame(type: 4, flags: 0, stream: 0, payload: [])
            out += RawH2.frame(type: 1, flags: 0x4, stream: 1, payload: RawH2.headers([
                (":method", "POST"), (":scheme", "http"), (":path", "/v1/batches"), (":authority", "127.0.0.1"),
                ("content-type", "application/x-lanner-batch"), ("authorization", "Bearer s3cret"),
                ("content-length", String(good.count)),
            ]))
            out += RawH2.frame(type: 0, flags: 0x1, stream: 1, payload: good)
            out += garbage
            RawH2.sendAll(fd, out)
            RawH2.drain(fd, seconds: 3)
            close(fd)
        }
        // Whatever the server did with the connection, the batch is there once (or not at all if it was never
        // acknowledged); a retry must then make it exactly once.
        let deadline = Date().addingTimeInterval(5)
        while try s.batchCount() == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(try s.batchCount() <= 1)
        let c = try s.client()
        let (st, text) = try Self.post(c, good)
        #expect(st == 200, "\(text)")
        #expect(try s.batchCount() == 1)
        #expect(s.healthy())
    }

    @Test func concurrentValidAndInvalidBatchesAreEachStoredExactlyOnce() throws {
        let s = try Server(queueLimit: 4)
        let lock = NSLock()
        nonisolated(unsafe) var problems: [String] = []
        nonisolated(unsafe) var committed = 0
        nonisolated(unsafe) var duplicates = 0
        let sensors = 6, perSensor = 15
        DispatchQueue.concurrentPerform(iterations: sensors) { i in
            do {
                var c = try s.client()
                for seq in 1...perSensor {
                    let good = try Self.batch(sensor: UInt8(i + 1), seq: UInt64(seq))
                    // An invalid batch between every valid one, on the same connection.
                    let bad: [UInt8] = seq % 2 == 0 ? Array(good.dropLast(2)) : Array("junk \(seq)".utf8)
                    let (bs, _) = try Self.post(c, bad)
                    if bs != 400 { lock.lock(); problems.append("sensor \(i) bad \(seq): \(bs)"); lock.unlock() }
                    // Retry the valid one until it is acknowledged, as the sensor's uploader does.
                    var attempts = 0
                    while true {
                        attempts += 1
                        let r: (Int, String)
                        do { r = try Self.post(c, good) } catch { c = try s.client(); continue }
                        if r.0 == 200 {
                            lock.lock()
                            if r.1.contains("\"committed\"") { committed += 1 } else { duplicates += 1 }
                            lock.unlock()
                            break
                        }
                        if r.0 != 503 || attempts > 200 {
                            lock.lock(); problems.append("sensor \(i) seq \(seq): \(r.0) \(r.1)"); lock.unlock()
                            break
                        }
                        Thread.sleep(forTimeInterval: 0.01)
                    }
                }
            } catch {
                lock.lock(); problems.append("sensor \(i): \(error)"); lock.unlock()
            }
        }
        #expect(problems.isEmpty, "\(problems)")
        #expect(committed == sensors * perSensor)
        #expect(duplicates == 0)
        #expect(try s.batchCount() == sensors * perSensor)
        let stats = s.server.currentStats
        #expect(stats.batchesAccepted == sensors * perSensor)
        #expect(stats.batchesRejected == sensors * perSensor)
        #expect(s.healthy())
    }

    @Test func bodyOverTheDecoderLimitIsRefusedNotStored() throws {
        let s = try Server()
        let c = try s.client()
        // 17 MiB: over BatchDecoder's 16 MiB but under the HTTP/2 server's 32 MiB.
        var big = try Self.batch(sensor: 3, seq: 1)
        big += [UInt8](repeating: 0, count: 17 << 20)
        let (st, text) = try Self.post(c, big)
        #expect(st == 400 || st == 413, "\(st) \(text)")
        #expect(try s.batchCount() == 0)
        #expect(s.healthy())
    }

    /// FINDING (minor, wrong match): `alerts list --rule NAME` switches to GLOB as soon as the name contains `*`,
    /// `?` or `[`, with no way to escape, so a rule named with such characters ("Weird [x] rule") cannot be
    /// selected by its exact name — and the pattern matches other rules ("Weird x rule") instead.
    @Test func aRuleNameWithGlobCharactersCanBeQueriedExactly() throws {
        let path = NSTemporaryDirectory() + "adv-glob-\(UUID().uuidString).db"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try AlertStore(path: path)
        func alert(_ rule: String) -> NewAlert {
            NewAlert(timeNs: 1, host: "h", sensorID: "s", rule: rule, priority: .warning, source: "syscall", output: "o",
                     tags: [], fieldsJSON: "{}", containerID: nil)
        }
        _ = try store.commit(sensorID: "s", sequence: 1, events: 2, alerts: [alert("Weird [x] rule"), alert("Weird x rule")])
        let got = try store.query(AlertQuery(rule: "Weird [x] rule")).map(\.rule)
        #expect(got == ["Weird [x] rule"], "querying the exact name returned \(got)")
    }
}

/// Just enough HTTP/2 to put exact bytes on the wire (HPACK literals without indexing or Huffman).
enum RawH2 {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags,
                UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + payload
    }

    static func int(_ v: Int, prefixBits: Int) -> [UInt8] {
        let max = (1 << prefixBits) - 1
        if v < max { return [UInt8(v)] }
        var out: [UInt8] = [UInt8(max)]
        var r = v - max
        while r >= 128 { out.append(UInt8(r % 128 + 128)); r /= 128 }
        out.append(UInt8(r))
        return out
    }

    static func headers(_ hs: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (n, v) in hs {
            out.append(0)   // literal without indexing, new name
            out += int(n.utf8.count, prefixBits: 7) + Array(n.utf8)
            out += int(v.utf8.count, prefixBits: 7) + Array(v.utf8)
        }
        return out
    }

    static func connect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(rc == 0, "connect failed: errno \(errno)")
        return fd
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Reads until the peer closes or `seconds` pass.
    static func drain(_ fd: Int32, seconds: Double) {
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buf = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let n = recv(fd, &buf, buf.count, 0)
            if n == 0 { return }
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK { return }
        }
    }
}
