import Glibc

/// A minimal HTTP/1.1 client for one origin (`http://` or `https://` host and port), keeping one connection
/// alive between requests. Blocking from the caller's view, but every wait goes through `poll` with the
/// request's deadline and the caller's `Canceller`, so a hung server costs at most the timeout and shutdown can
/// interrupt it. Not thread-safe: one owner thread (an output worker).
///
/// A request sent on a reused connection that fails before any response byte arrives (the server closed the
/// idle connection as the request went out) is sent once more on a new connection, as browsers and curl do.
/// No redirects, no compression, no HTTP/2; name resolution is getaddrinfo's (bounded by resolv.conf, not by
/// the timeout).
final class HTTPClient {
    let url: HTTPURL
    private let tls: TLSClientContext?
    private var connection: ByteStream?
    static let userAgent = "lanner-collector/0.1"

    /// - Parameter tls: required for `https://` URLs.
    init(url: HTTPURL, tls: TLSClientContext?) {
        precondition(!url.isHTTPS || tls != nil, "https needs a TLS context")
        self.url = url
        self.tls = tls
    }

    deinit { close() }

    func close() {
        connection?.close()
        connection = nil
    }

    /// The request's bytes: request line, Host, the default User-Agent and Content-Type unless `headers`
    /// replace them, `headers`, Content-Length, the body.
    func requestBytes(method: String, headers: [HTTPHeader], contentType: String?, body: [UInt8]) -> [UInt8] {
        var head = "\(method) \(url.target) HTTP/1.1\r\nHost: \(url.hostHeader)\r\n"
        let names = Set(headers.map { $0.name.lowercased() })
        if !names.contains("user-agent") { head += "User-Agent: \(Self.userAgent)\r\n" }
        if let contentType, !names.contains("content-type") { head += "Content-Type: \(contentType)\r\n" }
        for h in headers { head += "\(h.name): \(h.value)\r\n" }
        head += "Content-Length: \(body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }

    /// Sends one request and reads its response, all within `timeout`.
    func send(method: String = "POST", headers: [HTTPHeader], contentType: String? = "application/json", body: [UInt8],
              timeout: Duration, cancel: Canceller) -> Result<HTTPResponse, HTTPClientError> {
        let deadline = Deadline.after(timeout)
        let request = requestBytes(method: method, headers: headers, contentType: contentType, body: body)
        var resent = false
        while true {
            var reused = false
            if let c = connection {
                if c.isReusable() { reused = true } else { close() }
            }
            if connection == nil {
                switch connect(until: deadline, cancel: cancel) {
                case .success(let c): connection = c
                case .failure(let e): return .failure(e)
                }
            }
            let result = exchange(connection!, request, method: method, deadline: deadline, cancel: cancel)
            switch result {
            case .success(let r):
                if !r.keepAlive { close() }
                return .success(r)
            case .failure(let e):
                close()
                if reused && !resent && e.nothingReceived && !e.isCancelled && !deadline.hasPassed {
                    resent = true
                    continue
                }
                return .failure(e)
            }
        }
    }

    private func connect(until deadline: Deadline, cancel: Canceller) -> Result<ByteStream, HTTPClientError> {
        let tcp: TCPStream
        switch TCPStream.connect(host: url.host, port: url.port, until: deadline, cancel: cancel) {
        case .success(let t): tcp = t
        case .failure(let e): return .failure(e)
        }
        guard url.isHTTPS, let tls else { return .success(tcp) }
        let stream: TLSStream
        do { stream = try TLSStream(tcp: tcp, context: tls, host: url.host, hostIsAddress: url.hostIsAddress) } catch {
            return .failure(error)
        }
        if let e = stream.handshake(until: deadline, cancel: cancel) {
            stream.close()
            return .failure(e)
        }
        return .success(stream)
    }

    private func exchange(_ c: ByteStream, _ request: [UInt8], method: String, deadline: Deadline,
                          cancel: Canceller) -> Result<HTTPResponse, HTTPClientError> {
        if let e = c.writeAll(request, until: deadline, cancel: cancel, what: "the request") { return .failure(e) }
        var parser = HTTPResponseParser(requestWasHead: method == "HEAD")
        var buf = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let got = buf.withUnsafeMutableBytes { c.readSome(into: $0, until: deadline, cancel: cancel, what: "the response") }
            switch got {
            case .failure(var e):
                e.nothingReceived = parser.sawNothing
                return .failure(e)
            case .success(0):
                do { return .success(try parser.finish()) } catch {
                    return .failure(HTTPClientError(message: error.message, nothingReceived: parser.sawNothing))
                }
            case .success(let n):
                buf.withUnsafeBytes { parser.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                do {
                    if var r = try parser.next() {
                        if parser.leftover > 0 { r.keepAlive = false }
                        return .success(r)
                    }
                } catch {
                    return .failure(HTTPClientError(message: "bad response: \(error.message)", nothingReceived: false))
                }
            }
        }
    }
}
