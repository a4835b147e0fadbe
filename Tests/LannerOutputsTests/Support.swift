import COpenSSL
import Foundation
import Glibc
import LannerCore
import LannerStore
@testable import LannerOutputs

/// A fresh directory per test (tests run in parallel), removed afterwards.
final class TempDir: @unchecked Sendable {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("lanner-out-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// An alert as the store returns it.
func alert(_ id: Int64, priority: Priority = .warning, rule: String = "Shell in container", host: String = "web-1",
           output: String? = nil, count: Int = 1) -> StoredAlert {
    StoredAlert(id: id, timeNs: 1_796_356_623_123_456_789 + id, host: host, sensorID: "s-\(host)", rule: rule,
                priority: priority, source: "syscall", output: output ?? "shell spawned (id=\(id) user=root)",
                tags: ["container", "shell"], fieldsJSON: #"{"proc.name":"bash","user.name":"root"}"#,
                containerID: nil, count: count, lastSeenNs: 1_796_356_623_123_456_789 + id)
}

/// Collects log lines.
final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var sink: @Sendable (String) -> Void { { [self] l in lock.lock(); lines.append(l); lock.unlock() } }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    func contains(_ s: String) -> Bool { all.contains { $0.contains(s) } }
}

/// Polls `condition` every 5 ms until it holds or `seconds` pass; whether it held.
func waitUntil(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let end = Date(timeIntervalSinceNow: seconds)
    while Date() < end {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

/// Parses one line of JSON into a dictionary.
func jsonObject(_ line: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
}

/// The test process must survive peers that vanish (the collector ignores SIGPIPE the same way).
let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

/// Runs a command and returns its exit status.
@discardableResult
func run(_ args: [String]) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus
}

/// A throwaway self-signed certificate and key made by `openssl req`, valid for the given names.
struct TestCertificate {
    let cert: String
    let key: String

    init(dir: TempDir, name: String, subjectAltName: String) throws {
        cert = dir.file("\(name).crt")
        key = dir.file("\(name).key")
        let status = try run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                              "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=\(name)", "-addext", "subjectAltName=\(subjectAltName)"])
        guard status == 0 else { throw TestError("openssl req failed with status \(status)") }
    }
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ s: String) { description = s }
}

// MARK: - HTTP/1.1 test server

/// An HTTP/1.1 server on 127.0.0.1 (optionally TLS) that records every request and answers as `handler` says.
/// Keep-alive: requests on one connection are served in turn until either side closes.
final class TestHTTPServer: @unchecked Sendable {
    struct Request {
        var method: String
        var target: String
        var version: String
        var headers: [(String, String)]
        var body: [UInt8]
        var connection: Int

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    enum Reply {
        case respond(status: Int, headers: [(String, String)] = [], body: String = "")
        /// Chunked body in these pieces.
        case chunked(status: Int, chunks: [String])
        /// Never answer (until the server stops).
        case hang
        /// Close the connection without answering.
        case close
        /// Answer (without `Connection: close`), then close the connection anyway: an idle keep-alive timeout.
        case respondThenClose(status: Int)
    }

    private let listenFD: Int32
    let port: UInt16
    private let lock = NSLock()
    private var recorded: [Request] = []
    private var connectionCount = 0
    private var openFDs: Set<Int32> = []
    private var stopping = false
    private let handler: @Sendable (Request, Int) -> Reply
    private let tlsContext: OpaquePointer?

    /// - Parameter handler: gets each request and its 0-based index over the server's life.
    init(tls: TestCertificate? = nil, handler: @escaping @Sendable (Request, Int) -> Reply = { _, _ in .respond(status: 200) }) throws {
        _ = ignoreSIGPIPE
        self.handler = handler
        if let tls {
            guard let ctx = SSL_CTX_new(TLS_server_method()),
                  SSL_CTX_use_certificate_chain_file(ctx, tls.cert) == 1,
                  SSL_CTX_use_PrivateKey_file(ctx, tls.key, SSL_FILETYPE_PEM) == 1 else { throw TestError("TLS server setup failed") }
            tlsContext = ctx
        } else {
            tlsContext = nil
        }
        let lfd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        listenFD = lfd
        var one: Int32 = 1
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(lfd, sa, len) == 0 && listen(lfd, 64) == 0 && getsockname(lfd, sa, &len) == 0
            }
        }
        guard ok else { throw TestError("bind: \(String(cString: strerror(errno)))") }
        port = UInt16(bigEndian: addr.sin_port)
        let t = Thread { [self] in acceptLoop() }
        t.start()
    }

    deinit {
        stop()
        if let tlsContext { SSL_CTX_free(tlsContext) }
    }

    var requests: [Request] { lock.lock(); defer { lock.unlock() }; return recorded }
    var connections: Int { lock.lock(); defer { lock.unlock() }; return connectionCount }

    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopping else { return }
        stopping = true
        // Under the lock: a connection leaves openFDs (under the lock) before it is closed, and the accept loop
        // closes the listener only after seeing `stopping`, so no number here can be another socket's by now.
        shutdown(listenFD, Int32(SHUT_RDWR))
        for fd in openFDs { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    private func acceptLoop() {
        while !isStopping {
            var p = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 50) <= 0 { continue }
            let fd = accept(listenFD, nil, nil)
            if fd < 0 { continue }
            lock.lock()
            connectionCount += 1
            let n = connectionCount
            openFDs.insert(fd)
            lock.unlock()
            let t = Thread { [self] in serve(fd: fd, connection: n) }
            t.start()
        }
        close(listenFD)
    }

    /// Blocking reads and writes over plain TCP or TLS.
    private final class Conn {
        let fd: Int32
        var ssl: OpaquePointer?
        init(fd: Int32, ssl: OpaquePointer?) { self.fd = fd; self.ssl = ssl }
        func read(_ buf: inout [UInt8]) -> Int {
            buf.withUnsafeMutableBytes { raw in
                if let ssl { return Int(SSL_read(ssl, raw.baseAddress, Int32(raw.count))) }
                return Glibc.read(fd, raw.baseAddress, raw.count)
            }
        }
        func write(_ s: [UInt8]) {
            s.withUnsafeBytes { raw in
                if let ssl { _ = SSL_write(ssl, raw.baseAddress, Int32(raw.count)) } else { _ = send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) }
            }
        }
        func close() {
            if let ssl { SSL_shutdown(ssl); SSL_free(ssl) }
            Glibc.close(fd)
        }
    }

    private func serve(fd: Int32, connection: Int) {
        var ssl: OpaquePointer?
        if let tlsContext {
            ssl = SSL_new(tlsContext)
            SSL_set_fd(ssl, fd)
            if SSL_accept(ssl) != 1 {   // a client that refused our certificate
                SSL_free(ssl)
                finish(fd)
                return
            }
        }
        let conn = Conn(fd: fd, ssl: ssl)
        var pending: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65_536)
        outer: while true {
            // Head.
            var headEnd: Int?
            while headEnd == nil {
                if let r = pending.firstRange(of: Array("\r\n\r\n".utf8)) { headEnd = r.upperBound; break }
                let n = conn.read(&buf)
                if n <= 0 { break outer }
                pending.append(contentsOf: buf[0..<n])
            }
            let head = String(decoding: pending[0..<headEnd!], as: UTF8.self)
            pending.removeFirst(headEnd!)
            var lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            let requestLine = lines.removeFirst().split(separator: " ").map(String.init)
            let headers = lines.map { l -> (String, String) in
                let i = l.firstIndex(of: ":")!
                return (String(l[..<i]), l[l.index(after: i)...].trimmingCharacters(in: .whitespaces))
            }
            let length = Int(headers.first { $0.0.lowercased() == "content-length" }?.1 ?? "0") ?? 0
            while pending.count < length {
                let n = conn.read(&buf)
                if n <= 0 { break outer }
                pending.append(contentsOf: buf[0..<n])
            }
            let req = Request(method: requestLine[0], target: requestLine[1], version: requestLine[2], headers: headers,
                              body: Array(pending[0..<length]), connection: connection)
            pending.removeFirst(length)
            lock.lock()
            let index = recorded.count
            recorded.append(req)
            lock.unlock()
            switch handler(req, index) {
            case .respond(let status, let hs, let body):
                var s = "HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Length: \(body.utf8.count)\r\n"
                for (k, v) in hs { s += "\(k): \(v)\r\n" }
                conn.write(Array((s + "\r\n" + body).utf8))
                if hs.contains(where: { $0.0.lowercased() == "connection" && $0.1 == "close" }) { break outer }
            case .chunked(let status, let chunks):
                var s = "HTTP/1.1 \(status) \(Self.reason(status))\r\nTransfer-Encoding: chunked\r\n\r\n"
                for c in chunks { s += String(c.utf8.count, radix: 16) + ";ext=1\r\n" + c + "\r\n" }
                s += "0\r\nX-Trailer: yes\r\n\r\n"
                conn.write(Array(s.utf8))
            case .respondThenClose(let status):
                conn.write(Array("HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Length: 0\r\n\r\n".utf8))
                usleep(20_000)
                break outer
            case .hang:
                while !isStopping { usleep(10_000) }
                break outer
            case .close:
                break outer
            }
        }
        lock.lock()
        openFDs.remove(fd)
        lock.unlock()
        conn.close()
    }

    private func finish(_ fd: Int32) {
        lock.lock()
        openFDs.remove(fd)
        lock.unlock()
        close(fd)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}

// MARK: - syslog receiver

/// A temporary AF_UNIX datagram socket standing in for /dev/log.
final class SyslogReceiver {
    let path: String
    private let fd: Int32

    init(dir: TempDir) throws {
        path = dir.file("log.sock")
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw TestError("bind \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// The next datagram, or nil after `seconds`.
    func receive(seconds: Double = 5) -> String? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(seconds * 1000)) == 1 else { return nil }
        var buf = [UInt8](repeating: 0, count: 65_536)
        let n = recv(fd, &buf, buf.count, 0)
        return n >= 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
    }
}

/// A value shared between a test and a server handler.
final class Shared<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    init(_ v: T) { self.v = v }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return v }
        set { lock.lock(); v = newValue; lock.unlock() }
    }
}

/// A TCP server on 127.0.0.1 that writes `reply` to every connection as soon as it is accepted, then closes.
final class RawServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32

    init(reply: String) throws {
        _ = ignoreSIGPIPE
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let lfd = fd
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(lfd, sa, len) == 0 && listen(lfd, 8) == 0 && getsockname(lfd, sa, &len) == 0
            }
        }
        guard ok else { throw TestError("bind failed") }
        port = UInt16(bigEndian: addr.sin_port)
        let bytes = Array(reply.utf8)
        let t = Thread {
            while true {
                let c = accept(lfd, nil, nil)
                if c < 0 { break }
                _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                usleep(50_000)
                close(c)
            }
            close(lfd)   // here, not in deinit: closed there, the number could be reused before this accept ran again
        }
        t.start()
    }

    /// Ends the accept loop, which then closes the socket.
    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
    }
}
