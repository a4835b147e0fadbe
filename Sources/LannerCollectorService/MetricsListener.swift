import Foundation
import Glibc
import LannerHTTP2

/// `GET /metrics` over plain HTTP/1.1 on its own address, for scrapers that do not speak h2c (Prometheus' own
/// client does not). One connection at a time on one thread, `Connection: close` after each answer; a client
/// gets `readTimeout` seconds to send its request head (at most 8 KiB). The bearer token is required, as on the
/// h2c port (Prometheus: `authorization: {credentials_file: /etc/lanner/token}`).
public final class MetricsListener: @unchecked Sendable {
    public let host: String
    public private(set) var port: UInt16
    private let fd: Int32
    private let token: String
    private let render: @Sendable () -> String
    private let log: @Sendable (String) -> Void
    private var thread: Thread?
    private let stopped = NSLock()
    private var isStopped = false
    private let finished = DispatchSemaphore(value: 0)
    static let readTimeout: Int32 = 2_000
    static let maxHead = 8 << 10

    public struct ListenError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Binds `host:port` (port 0: any free port; `port` then tells which).
    public init(host: String, port: UInt16, token: String, log: @escaping @Sendable (String) -> Void,
                render: @escaping @Sendable () -> String) throws(ListenError) {
        self.host = host
        self.token = token
        self.render = render
        self.log = log
        // Blocking: the accept thread sleeps in accept until a client comes or `stop` shuts the socket down.
        let listener: (fd: Int32, port: UInt16)
        do {
            listener = try Socket.listen(host: host, port: port, backlog: 16, blocking: true, numericHost: true)
        } catch {
            throw Self.listenError(error, host: host, port: port)
        }
        fd = listener.fd
        self.port = listener.port
    }

    /// `Socket.listen`'s failure in this listener's words.
    static func listenError(_ error: H2Error, host: String, port: UInt16) -> ListenError {
        switch error {
        case .invalidAddress(_, let reason):
            return ListenError(description: "'\(host)' is not a numeric IPv4 or IPv6 address (\(reason))")
        case .system(let call, let e, _):
            let why = String(cString: strerror(e))
            switch call {
            case "bind": return ListenError(description: "cannot bind \(host):\(port): \(why)")
            case "listen": return ListenError(description: "cannot listen on \(host):\(port): \(why)")
            default: return ListenError(description: "\(call): \(why)")
            }
        default:
            return ListenError(description: error.description)
        }
    }

    public func start() {
        let t = Thread { [self] in
            self.acceptLoop()
            self.finished.signal()
        }
        t.name = "lanner-metrics"
        thread = t
        t.start()
    }

    /// Stops accepting and waits for the thread (at most one request's read timeout). Idempotent.
    public func stop() {
        stopped.lock()
        let first = !isStopped
        isStopped = true
        stopped.unlock()
        guard first else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        if thread != nil { finished.wait() }
        Glibc.close(fd)
    }

    private var stopping: Bool {
        stopped.lock()
        defer { stopped.unlock() }
        return isStopped
    }

    private func acceptLoop() {
        while !stopping {
            // Close-on-exec from the start: output programs are started from other threads meanwhile.
            switch Socket.accept(fd, blocking: true) {
            case .accepted(let c, _):
                serve(c)
                Glibc.close(c)
            case .wouldBlock:
                continue   // only a non-blocking listener says so
            case .failed(let e):
                if stopping { return }
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM {
                    log("lanner-collector: metrics listener: accept: \(String(cString: strerror(e))); pausing")
                    usleep(100_000)
                    continue
                }
                return
            }
        }
    }

    /// Reads one request head and answers it.
    private func serve(_ c: Int32) {
        // A client that stops reading cannot hold the thread: sends give up after the timeout too.
        var tv = timeval(tv_sec: Int(Self.readTimeout / 1000), tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var head: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while !Self.hasHeadEnd(head) {
            var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Self.readTimeout) == 1 else { return }   // silent client: dropped
            let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            head.append(contentsOf: buf[0..<n])
            if head.count > Self.maxHead && !Self.hasHeadEnd(head) {
                send(c, Self.reply(431, "text/plain", "request head larger than 8 KiB\n"))
                return
            }
        }
        let answer = Self.answer(head: head, token: token, render: render)
        send(c, answer)
    }

    static func hasHeadEnd(_ b: [UInt8]) -> Bool {
        guard b.count >= 4 else { return false }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return true }
        return false
    }

    /// The whole response to a request head (pure: tested without sockets).
    static func answer(head: [UInt8], token: String, render: () -> String) -> [UInt8] {
        guard let text = String(validating: head, as: UTF8.self) else {
            return reply(400, "text/plain", "the request head is not UTF-8\n")
        }
        let lines = text.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            return reply(400, "text/plain", "malformed request line\n")
        }
        let method = parts[0], target = parts[1]
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard path == "/metrics" else { return reply(404, "text/plain", "no such endpoint: \(path); this port serves GET /metrics\n") }
        guard method == "GET" || method == "HEAD" else {
            return reply(405, "text/plain", "method \(method) not allowed on /metrics\n", extra: "Allow: GET, HEAD\r\n")
        }
        var authorization: String?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == "authorization" {
                authorization = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        guard let a = authorization, a.hasPrefix("Bearer "),
              constantTimeEqual(Array(a.dropFirst(7).utf8), Array(token.utf8)) else {
            return reply(401, "text/plain", "missing or wrong bearer token\n", extra: "WWW-Authenticate: Bearer\r\n")
        }
        let body = render()
        return reply(200, PrometheusText.contentType, method == "HEAD" ? "" : body,
                     length: body.utf8.count)
    }

    static func reply(_ status: Int, _ type: String, _ body: String, extra: String = "", length: Int? = nil) -> [UInt8] {
        let reason = [200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                      431: "Request Header Fields Too Large"][status] ?? "Error"
        return Array(("HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(length ?? body.utf8.count)\r\n"
                      + extra + "Connection: close\r\n\r\n" + body).utf8)
    }

    private func send(_ c: Int32, _ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            var p = pollfd(fd: c, events: Int16(POLLOUT), revents: 0)
            guard poll(&p, 1, Self.readTimeout) == 1 else { return }
            let n = bytes.withUnsafeBytes { Glibc.send(c, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                return
            }
            off += n
        }
    }
}
