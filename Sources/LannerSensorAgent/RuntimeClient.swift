import FoundationEssentials
import Glibc
import LannerCore

/// Why the container runtime could not be asked, said so the operator can act on it.
public enum RuntimeError: Error, Equatable, CustomStringConvertible {
    /// Nothing at the socket path.
    case noSocket(path: String)
    case cannotConnect(path: String, reason: String)
    /// A read or write on the socket failed (or timed out).
    case io(path: String, what: String, reason: String)
    /// The answer is not an HTTP response we can read.
    case malformed(path: String, request: String, reason: String)
    /// An answer other than 200.
    case status(path: String, request: String, code: Int, message: String)

    public var description: String {
        switch self {
        case .noSocket(let p): return "no container runtime socket at \(p)"
        case .cannotConnect(let p, let why): return "cannot connect to the container runtime at \(p): \(why)"
        case .io(let p, let what, let why): return "container runtime at \(p): \(what): \(why)"
        case .malformed(let p, let req, let why): return "container runtime at \(p) answered GET \(req) with something unreadable: \(why)"
        case .status(let p, let req, let code, let msg):
            return "container runtime at \(p) answered GET \(req) with \(code)" + (msg.isEmpty ? "" : ": \(msg)")
        }
    }

    /// The container asked about does not exist (any more).
    public var isNotFound: Bool {
        if case .status(_, _, 404, _) = self { return true }
        return false
    }
}

/// A Docker-compatible Engine API client over a unix socket (docker's /var/run/docker.sock, or
/// `podman system service`'s). One connection per request, HTTP/1.0: the server then sends the body
/// unchunked and ends it by closing, so a reply is read to the end of the stream and a streamed reply
/// (/events) is plain JSON lines. Blocking I/O with timeouts; no Foundation networking.
public struct RuntimeClient: Sendable {
    public let socketPath: String
    /// Longest one request may take (connect, send, whole reply).
    public var timeout: Double
    /// Largest reply body kept; a longer one is an error (a list of thousands of containers fits).
    public static let maxBody = 32 << 20
    /// The API version the paths use (Docker 1.41; podman's compat service speaks it, min 1.24).
    public static let apiPrefix = "/v1.41"

    public init(socketPath: String, timeout: Double = 5) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// A reply: status, headers (names lowercased) and body.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
    }

    /// GET `path`; throws unless the answer is 200.
    public func get(_ path: String) throws(RuntimeError) -> Response {
        let fd = try connect(timeout: timeout)
        defer { close(fd) }
        try send(fd, path)
        var all: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: socketPath, what: "reading the reply to GET \(path)", reason: RuntimeClient.errnoText(errno))
            }
            if n == 0 { break }
            all.append(contentsOf: chunk[0..<n])
            if all.count > RuntimeClient.maxBody + (64 << 10) {
                throw .malformed(path: socketPath, request: path, reason: "the reply is over \(RuntimeClient.maxBody >> 20) MiB")
            }
        }
        guard let (response, bodyStart) = try RuntimeClient.head(all, path: socketPath, request: path) else {
            throw .malformed(path: socketPath, request: path, reason: all.isEmpty ? "the connection closed without a reply" : "the reply ends inside its header")
        }
        var r = response
        var body = Array(all[bodyStart...])
        if let l = r.header("content-length").flatMap({ Int($0) }) {
            guard l <= body.count else {
                throw .malformed(path: socketPath, request: path, reason: "the body ends after \(body.count) of its \(l) bytes")
            }
            body.removeLast(body.count - l)
        }
        r.body = body
        guard r.status == 200 else {
            throw .status(path: socketPath, request: path, code: r.status, message: RuntimeClient.errorMessage(body))
        }
        return r
    }

    /// GET `path` whose reply streams JSON lines (/events): returns once the 200 header is in.
    public func stream(_ path: String) throws(RuntimeError) -> RuntimeStream {
        let fd = try connect(timeout: timeout)
        do throws(RuntimeError) {
            try send(fd, path)
            let s = RuntimeStream(fd: fd, socketPath: socketPath)
            let (r, rest) = try s.readHead(request: path, timeout: timeout)
            guard r.status == 200 else {
                throw RuntimeError.status(path: socketPath, request: path, code: r.status, message: RuntimeClient.errorMessage(rest))
            }
            s.pending = rest
            return s
        } catch {
            close(fd)
            throw error
        }
    }

    // MARK: - Pieces

    func connect(timeout: Double) throws(RuntimeError) -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else {
            throw .cannotConnect(path: socketPath, reason: "the path is longer than a unix socket path may be (\(capacity - 1) bytes)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
            p[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .cannotConnect(path: socketPath, reason: RuntimeClient.errnoText(errno)) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 {
            let e = errno
            close(fd)
            if e == ENOENT { throw .noSocket(path: socketPath) }
            throw .cannotConnect(path: socketPath, reason: RuntimeClient.errnoText(e)
                                 + (e == ECONNREFUSED ? " (the socket exists but nothing serves it: is the runtime's service running?)" : ""))
        }
        return fd
    }

    func send(_ fd: Int32, _ path: String) throws(RuntimeError) {
        let request = Array("GET \(path) HTTP/1.0\r\nHost: docker\r\nUser-Agent: lanner-sensor\r\nAccept: application/json\r\n\r\n".utf8)
        var off = 0
        while off < request.count {
            let n = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: socketPath, what: "sending GET \(path)", reason: RuntimeClient.errnoText(errno))
            }
            off += n
        }
    }

    /// Parses the status line and headers at the start of `bytes`: the response (empty body) and where the body
    /// starts, or nil when the header is not complete yet.
    static func head(_ bytes: [UInt8], path: String, request: String) throws(RuntimeError) -> (Response, Int)? {
        guard let end = headEnd(bytes) else {
            if bytes.count > 64 << 10 { throw .malformed(path: path, request: request, reason: "the header is over 64 KiB") }
            return nil
        }
        var lines = bytes[0..<end.lineEnd].split(separator: 0x0a, omittingEmptySubsequences: false).map { l -> String in
            String(decoding: l.last == 0x0d ? l.dropLast() : l, as: UTF8.self)
        }
        let status = lines.removeFirst()
        let parts = status.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
            throw .malformed(path: path, request: request, reason: "status line '\(status.prefix(80))'")
        }
        var headers: [(String, String)] = []
        for l in lines where !l.isEmpty {
            guard let colon = l.firstIndex(of: ":") else {
                throw .malformed(path: path, request: request, reason: "header line '\(l.prefix(80))'")
            }
            headers.append((l[..<colon].lowercased(), l[l.index(after: colon)...].trimmed(where: { $0 == " " || $0 == "\t" })))
        }
        if headers.contains(where: { $0.0 == "transfer-encoding" && $0.1.lowercased() != "identity" }) {
            throw .malformed(path: path, request: request, reason: "a transfer coding in the reply to an HTTP/1.0 request")
        }
        return (Response(status: code, headers: headers, body: []), end.bodyStart)
    }

    /// Where the header ends: the index of its blank line and of the first body byte (CRLF or LF line ends).
    static func headEnd(_ b: [UInt8]) -> (lineEnd: Int, bodyStart: Int)? {
        var i = 0
        while i < b.count {
            if b[i] == 0x0a {
                if i + 1 < b.count && b[i + 1] == 0x0a { return (i, i + 2) }
                if i + 2 < b.count && b[i + 1] == 0x0d && b[i + 2] == 0x0a { return (i, i + 3) }
            }
            i += 1
        }
        return nil
    }

    /// The `message` of a Docker API error body, else its first bytes.
    static func errorMessage(_ body: [UInt8]) -> String {
        if let m = try? ContainerJSON.errorMessage(body) { return m }
        return String(decoding: body.prefix(200), as: UTF8.self).trimmed()
    }

    static func errnoText(_ e: Int32) -> String {
        if e == EAGAIN || e == EWOULDBLOCK { return "timed out" }
        return String(cString: strerror(e))
    }
}

/// A streamed reply (the runtime's /events), read line by line. `nextLine` waits in short polls so a stop
/// request is noticed within `pollMs`; `close` may be called from another thread to end a wait at once.
public final class RuntimeStream: @unchecked Sendable {
    private var fd: Int32
    let socketPath: String
    var pending: [UInt8] = []
    static let maxLine = 1 << 20

    init(fd: Int32, socketPath: String) {
        self.fd = fd
        self.socketPath = socketPath
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Reads until the header is complete; returns it and the body bytes that came with it.
    func readHead(request: String, timeout: Double) throws(RuntimeError) -> (RuntimeClient.Response, [UInt8]) {
        var buf: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            if let (r, start) = try RuntimeClient.head(buf, path: socketPath, request: request) {
                return (r, Array(buf[start...]))
            }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: socketPath, what: "reading the reply to GET \(request)", reason: RuntimeClient.errnoText(errno))
            }
            if n == 0 { throw .malformed(path: socketPath, request: request, reason: "the connection closed inside the header") }
            buf.append(contentsOf: chunk[0..<n])
        }
    }

    /// The next line (without its newline), or nil when the stream ended or `stop()` returned true.
    /// - Throws: when reading fails, or a line is over 1 MiB.
    public func nextLine(pollMs: Int32 = 200, stop: () -> Bool) throws(RuntimeError) -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            if let nl = pending.firstIndex(of: 0x0a) {
                var line = Array(pending[..<nl])
                pending.removeFirst(nl + 1)
                if line.last == 0x0d { line.removeLast() }
                return line
            }
            if pending.count > RuntimeStream.maxLine {
                throw .malformed(path: socketPath, request: "/events", reason: "an event line over 1 MiB")
            }
            if stop() || fd < 0 { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, pollMs)
            if ready < 0 && errno != EINTR {
                throw .io(path: socketPath, what: "waiting for events", reason: RuntimeClient.errnoText(errno))
            }
            if ready <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .io(path: socketPath, what: "reading events", reason: RuntimeClient.errnoText(errno))
            }
            if n == 0 { return nil }
            pending.append(contentsOf: chunk[0..<n])
        }
    }

    /// Ends the stream (a waiting `nextLine` returns nil or fails at its next poll).
    public func close() {
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
    }
}
