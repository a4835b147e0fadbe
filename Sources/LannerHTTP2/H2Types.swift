#if canImport(Glibc)
import Glibc
#endif

/// One complete HTTP/2 request as the server hands it to the application.
public struct H2Request: Sendable {
    /// `:method`, e.g. `POST`.
    public var method: String
    /// `:path`, e.g. `/v1/batches`.
    public var path: String
    /// `:authority` (or the `host` header when there is no `:authority`).
    public var authority: String?
    /// Regular header fields (no pseudo-headers), lower-case names, in arrival order.
    public var headers: [(name: String, value: String)]
    /// The whole request body.
    public var body: [UInt8]
    /// The client's address, `ip:port` (`[ip]:port` for IPv6).
    public var peer: String

    public init(method: String, path: String, authority: String? = nil, headers: [(name: String, value: String)] = [],
                body: [UInt8] = [], peer: String = "") {
        self.method = method
        self.path = path
        self.authority = authority
        self.headers = headers
        self.body = body
        self.peer = peer
    }

    /// The first value of header `name` (compared case-insensitively), if any.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first(where: { $0.name == lower })?.value
    }
}

/// An HTTP/2 response: status, header fields, body.
public struct H2Response: Sendable {
    /// Status code, 200...599 (the server sends 500 instead of anything outside 100...599).
    public var status: Int
    /// Header fields. Names are sent lower-cased; `content-length` is added by the server and connection-specific
    /// fields (`connection`, `transfer-encoding`, …), which HTTP/2 forbids, are dropped.
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A plain-text response (`content-type: text/plain; charset=utf-8`).
    public static func text(_ status: Int, _ text: String) -> H2Response {
        H2Response(status: status, headers: [("content-type", "text/plain; charset=utf-8")], body: Array(text.utf8))
    }

    /// The first value of header `name` (compared case-insensitively), if any.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first(where: { $0.name == lower })?.value
    }
}

/// Answers one request: call it exactly once, from any thread. Later calls are ignored. If every copy is
/// released without being called, the server answers `500` on its own so the client is not left waiting.
public typealias H2Responder = @Sendable (H2Response) -> Void

/// Resource limits for `H2Server`. Every limit protects the server from one client.
public struct H2Limits: Sendable, Equatable {
    /// Largest request body accepted, in bytes (default 32 MiB). A request declaring or sending more is answered
    /// `413` with a reason, its stream is reset, and the rest of its body is discarded unbuffered.
    public var maxRequestBodyBytes: Int
    /// Largest request header list (sum of name + value + 32 per field, as RFC 9113 counts it; default 64 KiB).
    /// Advertised in `SETTINGS_MAX_HEADER_LIST_SIZE`; larger requests are answered `431`.
    public var maxHeaderListBytes: Int
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` per connection (default 64); more are refused by the protocol.
    public var maxConcurrentStreams: Int
    /// Open connections at most (default 1024); a connection beyond that is accepted and closed at once.
    public var maxConnections: Int
    /// A connection with no traffic and no request in the application's hands for this long is closed with
    /// GOAWAY (default 120 s). Also bounds how long a client may take to send its preface.
    public var idleTimeout: Duration
    /// Request bytes one connection may have buffered (bodies being received plus bodies the application has
    /// not yet answered; default 64 MiB, never below `maxRequestBodyBytes`). Above it the server stops granting
    /// flow-control credit, so the client waits; if nothing is with the application to free memory, the newest
    /// unfinished streams are refused (`REFUSED_STREAM`, safe to retry).
    public var maxBufferedBytesPerConnection: Int
    /// Per-stream receive window (`SETTINGS_INITIAL_WINDOW_SIZE`, default 16 MiB).
    public var streamWindowBytes: Int
    /// Connection receive window (default 32 MiB).
    public var connectionWindowBytes: Int

    public init(maxRequestBodyBytes: Int = 32 << 20, maxHeaderListBytes: Int = 64 << 10,
                maxConcurrentStreams: Int = 64, maxConnections: Int = 1024, idleTimeout: Duration = .seconds(120),
                maxBufferedBytesPerConnection: Int = 64 << 20, streamWindowBytes: Int = 16 << 20,
                connectionWindowBytes: Int = 32 << 20) {
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.maxHeaderListBytes = maxHeaderListBytes
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.maxBufferedBytesPerConnection = maxBufferedBytesPerConnection
        self.streamWindowBytes = streamWindowBytes
        self.connectionWindowBytes = connectionWindowBytes
    }

    /// The limits with every value clamped to what HTTP/2 and the server can use.
    var normalized: H2Limits {
        var l = self
        let maxWindow = Int(Int32.max)
        l.maxRequestBodyBytes = max(0, l.maxRequestBodyBytes)
        l.maxHeaderListBytes = min(max(1024, l.maxHeaderListBytes), Int(UInt32.max))
        l.maxConcurrentStreams = min(max(1, l.maxConcurrentStreams), Int(UInt32.max))
        l.maxConnections = max(1, l.maxConnections)
        l.maxBufferedBytesPerConnection = max(l.maxBufferedBytesPerConnection, l.maxRequestBodyBytes)
        l.streamWindowBytes = min(max(65_535, l.streamWindowBytes), maxWindow)
        l.connectionWindowBytes = min(max(65_535, l.connectionWindowBytes), maxWindow)
        return l
    }
}

/// A snapshot of an `H2Server`'s counters (since `start()`).
public struct H2ServerCounters: Sendable, Equatable {
    /// Connections accepted (including those closed at once for exceeding `maxConnections`).
    public var connectionsAccepted: Int = 0
    /// Connections open now.
    public var connectionsOpen: Int = 0
    /// Connections closed at once because `maxConnections` were open.
    public var connectionsRejected: Int = 0
    /// Request streams started (HEADERS received).
    public var requests: Int = 0
    /// Requests handed to the application.
    public var requestsDispatched: Int = 0
    /// Bytes read from and written to sockets.
    public var bytesIn: Int = 0
    public var bytesOut: Int = 0
    /// Connections ended by a protocol violation: bad preface, garbage, framing or compression errors,
    /// floods (GOAWAY with an error code sent, or the session failed).
    public var protocolErrors: Int = 0
    /// HTTP/1.x requests answered with the "h2c required" error.
    public var http1Rejected: Int = 0
    /// Responses sent with status 400...499 and 500...599 (including the server's own 413/431/500).
    public var responses4xx: Int = 0
    public var responses5xx: Int = 0
    /// Streams reset by the client or the server before completing.
    public var streamsReset: Int = 0
    /// Responder calls that arrived after their stream or connection was gone (dropped).
    public var lateResponses: Int = 0
    /// Connections closed for idleness.
    public var idleTimeouts: Int = 0

    public init() {}
}

/// Errors of the HTTP/2 server and client.
public enum H2Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// The host name or address could not be resolved.
    case invalidAddress(host: String, reason: String)
    /// A system call failed: `call` (e.g. `bind`), `errno`, and what was being done.
    case system(call: String, errno: Int32, context: String)
    /// Nothing listens at the address (`ECONNREFUSED`).
    case connectionRefused(host: String, port: UInt16)
    /// `operation` did not finish within the timeout.
    case timedOut(operation: String)
    /// The peer closed the connection (or it broke) before the exchange finished.
    case connectionClosed(reason: String)
    /// The server sent GOAWAY: streams above `lastStreamID` were not processed and can be retried on a new
    /// connection. `errorCode` is the HTTP/2 error code (0 = NO_ERROR, a graceful shutdown).
    case goAway(errorCode: UInt32, lastStreamID: Int32)
    /// The peer reset the stream with HTTP/2 error code `errorCode` (7 = REFUSED_STREAM: not processed, safe to
    /// retry).
    case streamReset(errorCode: UInt32)
    /// nghttp2 reported a protocol or internal failure.
    case protocolError(String)
    /// The response body exceeded the client's limit.
    case responseTooLarge(limit: Int)
    /// The object is in the wrong state for the call (e.g. `start()` twice, request on a closed client).
    case invalidState(String)

    public var description: String {
        switch self {
        case .invalidAddress(let host, let reason): return "cannot resolve '\(host)': \(reason)"
        case .system(let call, let errno, let context):
            return "\(context): \(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .connectionRefused(let host, let port): return "connection refused by \(host):\(port)"
        case .timedOut(let operation): return "timed out: \(operation)"
        case .connectionClosed(let reason): return "connection closed: \(reason)"
        case .goAway(let code, let last):
            return "server sent GOAWAY (\(H2ErrorCodeName.name(code))), last processed stream \(last)"
        case .streamReset(let code): return "stream reset by peer (\(H2ErrorCodeName.name(code)))"
        case .protocolError(let what): return "HTTP/2 protocol error: \(what)"
        case .responseTooLarge(let limit): return "response body larger than \(limit) bytes"
        case .invalidState(let what): return what
        }
    }
}

/// Names of HTTP/2 error codes (RFC 9113 section 7).
enum H2ErrorCodeName {
    static func name(_ code: UInt32) -> String {
        let names = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
                     "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
                     "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
        return code < names.count ? names[Int(code)] : "error \(code)"
    }
}
