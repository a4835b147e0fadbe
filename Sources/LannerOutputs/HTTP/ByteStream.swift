import Glibc

/// Why an HTTP exchange failed.
struct HTTPClientError: Error, Equatable, CustomStringConvertible {
    var message: String
    /// Shutdown's deadline cancelled it.
    var isCancelled = false
    /// No byte of a response had arrived (a request on a reused connection may then be sent again).
    var nothingReceived = true

    static let cancelled = HTTPClientError(message: "cancelled", isCancelled: true)

    var description: String { message }
}

/// What one non-blocking read or write on a stream did.
enum StreamStep: Equatable {
    case bytes(Int)
    case eof
    /// Nothing can move until the descriptor is readable (TLS may need to read to write).
    case wantRead
    /// … or writable.
    case wantWrite
    case failed(String)
}

/// A byte stream over a non-blocking socket: TCP, or TLS over TCP.
protocol ByteStream: AnyObject {
    var fd: Int32 { get }
    func read(into buffer: UnsafeMutableRawBufferPointer) -> StreamStep
    func write(_ bytes: UnsafeRawBufferPointer) -> StreamStep
    /// True when an idle kept-alive connection can carry another request (the peer has not closed it).
    func isReusable() -> Bool
    func close()
}

extension ByteStream {
    /// Writes all of `bytes`, waiting for readiness until `deadline`.
    func writeAll(_ bytes: [UInt8], until deadline: Deadline, cancel: Canceller, what: String) -> HTTPClientError? {
        var off = 0
        return bytes.withUnsafeBytes { raw -> HTTPClientError? in
            while off < raw.count {
                let step = write(UnsafeRawBufferPointer(rebasing: raw[off...]))
                switch step {
                case .bytes(let n): off += n
                case .wantRead, .wantWrite:
                    let ev = step == .wantRead ? POLLIN : POLLOUT
                    switch cancel.wait(fd: fd, events: Int16(ev), until: deadline) {
                    case .ready: break
                    case .cancelled: return .cancelled
                    case .timedOut: return HTTPClientError(message: "timed out sending \(what)")
                    }
                case .eof: return HTTPClientError(message: "the connection closed while sending \(what)")
                case .failed(let why): return HTTPClientError(message: "sending \(what): \(why)")
                }
            }
            return nil
        }
    }

    /// Reads what is available (waiting until `deadline`): the byte count, 0 at end of stream.
    func readSome(into buffer: UnsafeMutableRawBufferPointer, until deadline: Deadline, cancel: Canceller,
                  what: String) -> Result<Int, HTTPClientError> {
        while true {
            let step = read(into: buffer)
            switch step {
            case .bytes(let n): return .success(n)
            case .eof: return .success(0)
            case .wantRead, .wantWrite:
                let ev = step == .wantRead ? POLLIN : POLLOUT
                switch cancel.wait(fd: fd, events: Int16(ev), until: deadline) {
                case .ready: continue
                case .cancelled: return .failure(.cancelled)
                case .timedOut: return .failure(HTTPClientError(message: "timed out waiting for \(what)"))
                }
            case .failed(let why): return .failure(HTTPClientError(message: "reading \(what): \(why)"))
            }
        }
    }
}

/// Cleartext TCP on a non-blocking socket; writes use MSG_NOSIGNAL (a vanished peer gives EPIPE, not SIGPIPE).
final class TCPStream: ByteStream {
    private(set) var fd: Int32
    /// `address:port` actually connected to, for messages.
    let peer: String

    private init(fd: Int32, peer: String) {
        self.fd = fd
        self.peer = peer
    }

    deinit { close() }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> StreamStep {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .eof }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wantRead
            default: return .failed(errnoText(errno))
            }
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> StreamStep {
        while true {
            let n = send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n > 0 { return .bytes(n) }
            if n == 0 { return .wantWrite }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wantWrite
            default: return .failed(errnoText(errno))
            }
        }
    }

    func isReusable() -> Bool {
        var b: UInt8 = 0
        let n = recv(fd, &b, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        // Idle and open: nothing to read. A byte (unsolicited data) or EOF (peer closed) means start afresh.
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
    }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Resolves `host` and connects to each address in turn until one answers, all before `deadline`.
    static func connect(host: String, port: UInt16, until deadline: Deadline, cancel: Canceller) -> Result<TCPStream, HTTPClientError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        // getaddrinfo cannot be interrupted; resolv.conf's timeout bounds it.
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            let why = rc == EAI_SYSTEM ? errnoText(errno) : String(cString: gai_strerror(rc))
            return .failure(HTTPClientError(message: "cannot resolve '\(host)': \(why)"))
        }
        defer { freeaddrinfo(list) }
        var problems: [String] = []
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            ai = a.pointee.ai_next
            let peer = Self.describe(a.pointee.ai_addr, port: port)
            let s = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
                           a.pointee.ai_protocol)
            guard s >= 0 else {
                problems.append("\(peer): socket: \(errnoText(errno))")
                continue
            }
            var one: Int32 = 1
            setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var r = Glibc.connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen)
            if r != 0 && errno == EINPROGRESS {
                switch cancel.wait(fd: s, events: Int16(POLLOUT), until: deadline) {
                case .cancelled:
                    Glibc.close(s)
                    return .failure(.cancelled)
                case .timedOut:
                    Glibc.close(s)
                    problems.append("\(peer): timed out connecting")
                    return .failure(HTTPClientError(message: "cannot connect to \(host):\(port): " + problems.joined(separator: "; ")))
                case .ready:
                    var err: Int32 = 0
                    var len = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len)
                    if err == 0 { r = 0 } else { errno = err }
                }
            }
            if r == 0 { return .success(TCPStream(fd: s, peer: peer)) }
            problems.append("\(peer): \(errnoText(errno))")
            Glibc.close(s)
        }
        return .failure(HTTPClientError(message: "cannot connect to \(host):\(port): " + problems.joined(separator: "; ")))
    }

    /// `1.2.3.4:80` or `[::1]:80`.
    static func describe(_ sa: UnsafeMutablePointer<sockaddr>?, port: UInt16) -> String {
        guard let sa else { return "?" }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        if Int32(sa.pointee.sa_family) == AF_INET6 {
            sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                var a = p.pointee.sin6_addr
                _ = inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count))
            }
            return "[\(string(fromCBuffer: buf))]:\(port)"
        }
        sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
            var a = p.pointee.sin_addr
            _ = inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count))
        }
        return "\(string(fromCBuffer: buf)):\(port)"
    }
}
