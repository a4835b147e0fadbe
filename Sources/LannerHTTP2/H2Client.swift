#if canImport(Glibc)
import Glibc
#endif

/// A blocking cleartext HTTP/2 (h2c, prior knowledge) client on one connection.
///
/// Made for a sensor that sends one batch at a time and waits for the acknowledgement: `request` submits one
/// request and blocks until its response, an error, or the timeout; it can be called again and again on the same
/// connection. Errors are typed so a caller can reconnect with backoff: `.connectionRefused`, `.timedOut`,
/// `.connectionClosed`, `.goAway`, `.streamReset`. After a connection-level error the client is closed
/// (`isOpen == false`) and a new `H2Client` is needed; after `.timedOut` or `.streamReset` it stays usable.
///
/// ```swift
/// let client = try H2Client(host: "collector", port: 7443)
/// let ack = try client.request(method: "POST", path: "/v1/batches", body: batch, timeout: .seconds(10))
/// ```
///
/// Not thread-safe: use one client from one thread at a time.
public final class H2Client {
    /// The server's host and port, as given.
    public let host: String
    public let port: UInt16

    private var transport: TCPTransport?
    private var session: ClientSession?
    private var out = OutputBuffer()
    private let readBuffer: UnsafeMutableRawBufferPointer
    /// Why the connection ended, once it did.
    private var failure: H2Error?
    private let log: H2Log?

    private static let readBufferSize = 256 << 10
    private static let outputChunk = 256 << 10

    /// Connects to `host:port` and sends the HTTP/2 preface and settings.
    ///
    /// - Parameters:
    ///   - connectTimeout: Upper bound for name resolution plus TCP connect.
    ///   - maxResponseBodyBytes: Responses with a larger body fail with `.responseTooLarge` (default 64 MiB).
    /// - Throws: `.connectionRefused`, `.timedOut`, `.invalidAddress`, `.system`.
    public init(host: String, port: UInt16, connectTimeout: Duration = .seconds(5),
                maxResponseBodyBytes: Int = 64 << 20, log: H2Log? = nil) throws(H2Error) {
        self.host = host
        self.port = port
        self.log = log
        let fd = try Socket.connect(host: host, port: port, timeout: connectTimeout)
        let transport = TCPTransport(fd: fd)
        self.transport = transport
        self.session = try ClientSession(maxResponseBodyBytes: maxResponseBodyBytes)
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
    }

    deinit {
        close()
        readBuffer.deallocate()
    }

    /// True until the connection ended (server closed it, GOAWAY, protocol error, `close()`).
    public var isOpen: Bool { failure == nil && transport != nil }

    /// Sends one request and waits for its response.
    ///
    /// - Parameters:
    ///   - method: `POST`, `GET`, …
    ///   - path: The request path, e.g. `/v1/batches`.
    ///   - headers: Extra header fields (names are lower-cased; connection-specific fields are dropped).
    ///   - body: The request body (sent with `content-length`).
    ///   - timeout: How long to wait for the complete response. On timeout the stream is cancelled and the
    ///     connection stays usable.
    /// - Returns: The response, whatever its status.
    /// - Throws: `.timedOut`; `.goAway` (not processed if its stream id was above `lastStreamID`);
    ///   `.streamReset`; `.connectionClosed`; `.responseTooLarge`; `.protocolError`; `.invalidState` after `close()`.
    public func request(method: String = "POST", path: String, headers: [(name: String, value: String)] = [],
                        body: [UInt8] = [], timeout: Duration = .seconds(30)) throws(H2Error) -> H2Response {
        guard let session, transport != nil else { throw failure ?? .invalidState("H2Client is closed") }
        if let failure { throw failure }
        // Notice a GOAWAY or close that arrived while idle before sending into a dead connection.
        try readAvailable()
        if let failure { throw failure }
        if let goAway = session.goAway {
            // The server is shutting this connection down: no new streams; reconnect.
            fail(.goAway(errorCode: goAway.errorCode, lastStreamID: goAway.lastStreamID))
            throw failure!
        }

        let deadline = Deadline(after: timeout)
        let authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let (streamID, stream) = try session.submit(method: method, path: path, authority: authority,
                                                    headers: headers, body: body)
        defer { session.forget(streamID: streamID) }

        while !stream.closed && failure == nil {
            try flush()
            if stream.closed || failure != nil { break }
            if !session.wantsRead && !session.wantsWrite && out.isEmpty {
                fail(.connectionClosed(reason: "the HTTP/2 session ended"))
                break
            }
            guard let transport else { break }
            var p = pollfd(fd: transport.fd, events: Int16(POLLIN) | (out.isEmpty ? 0 : Int16(POLLOUT)), revents: 0)
            let ready = poll(&p, 1, deadline.remainingMilliseconds)
            if ready < 0 && errno != EINTR {
                fail(.system(call: "poll", errno: errno, context: "waiting for \(host):\(port)"))
                break
            }
            if ready == 0 && deadline.hasPassed {
                session.cancel(streamID: streamID)
                try? flush()
                throw .timedOut(operation: "\(method) \(path) to \(host):\(port) after \(timeout)")
            }
            if p.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { try readAvailable() }
        }

        if stream.complete, let status = stream.status {
            return H2Response(status: status, headers: stream.headers, body: stream.body)
        }
        if stream.tooLarge { throw .responseTooLarge(limit: session.maxResponseBodyBytes) }
        if let goAway = session.goAway, streamID > goAway.lastStreamID || goAway.errorCode != 0 {
            throw .goAway(errorCode: goAway.errorCode, lastStreamID: goAway.lastStreamID)
        }
        if stream.closed && stream.closeCode != 0 { throw .streamReset(errorCode: stream.closeCode) }
        throw failure ?? .connectionClosed(reason: "the stream ended without a complete response")
    }

    /// Sends GOAWAY and closes the connection. Idempotent.
    public func close() {
        guard let transport else { return }
        if failure == nil, let session {
            session.terminate()
            _ = session.produce(into: &out, limit: 64 << 10)
            if !out.isEmpty { _ = out.withUnsafeReadableBytes { transport.write($0) } }
        }
        transport.close()
        self.transport = nil
        self.session = nil
        out.removeAll()
        if failure == nil { failure = .invalidState("H2Client is closed") }
    }

    // MARK: Pump

    /// Writes pending frames until the socket would block.
    private func flush() throws(H2Error) {
        guard let session, let transport else { return }
        while true {
            if out.count < Self.outputChunk && !session.produce(into: &out, limit: Self.outputChunk) {
                fail(.protocolError("nghttp2 failed while sending"))
                return
            }
            if out.isEmpty { return }
            switch out.withUnsafeReadableBytes({ transport.write($0) }) {
            case .bytes(let n): out.consume(n)
            case .wouldBlock, .eof: return
            case .failed(let e):
                fail(e == EPIPE || e == ECONNRESET
                     ? .connectionClosed(reason: "the server closed the connection (\(String(cString: strerror(e))))")
                     : .system(call: "send", errno: e, context: "writing to \(host):\(port)"))
                return
            }
        }
    }

    /// Reads and processes everything available without blocking.
    private func readAvailable() throws(H2Error) {
        guard let session, let transport else { return }
        while failure == nil {
            switch transport.read(into: readBuffer) {
            case .bytes(let n):
                if let error = session.receive(UnsafeRawBufferPointer(rebasing: readBuffer[..<n])) {
                    fail(.protocolError(error))
                    return
                }
                if n < readBuffer.count { return }
            case .wouldBlock:
                return
            case .eof:
                if let goAway = session.goAway {
                    fail(.goAway(errorCode: goAway.errorCode, lastStreamID: goAway.lastStreamID))
                } else {
                    fail(.connectionClosed(reason: "the server closed the connection"))
                }
                return
            case .failed(let e):
                fail(e == ECONNRESET
                     ? .connectionClosed(reason: "the connection was reset")
                     : .system(call: "read", errno: e, context: "reading from \(host):\(port)"))
                return
            }
        }
    }

    /// Records the connection-level failure and releases the socket; the session keeps its stream states.
    private func fail(_ error: H2Error) {
        if failure == nil {
            failure = error
            log?("h2 client \(host):\(port): \(error)")
        }
        transport?.close()
        transport = nil
    }
}

@available(*, unavailable)
extension H2Client: Sendable {}
