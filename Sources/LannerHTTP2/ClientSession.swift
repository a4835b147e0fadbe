import CNGHTTP2

/// One request stream on the client side.
final class ClientStream {
    var requestBody: OutgoingBody
    var status: Int?
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    /// The response is complete (END_STREAM received).
    var complete = false
    /// nghttp2 closed the stream; `closeCode` is the HTTP/2 error code it closed with.
    var closed = false
    var closeCode: UInt32 = 0
    /// The response body went over the client's limit; the stream was cancelled.
    var tooLarge = false

    init(requestBody: [UInt8]) { self.requestBody = OutgoingBody(requestBody) }
}

/// The client side of one HTTP/2 connection, independent of sockets: requests go in with `submit`, received bytes
/// with `receive`, frames come out of `produce`; stream state records what happened.
final class ClientSession {
    let maxResponseBodyBytes: Int
    private var session: OpaquePointer?
    private var streams: [Int32: ClientStream] = [:]
    /// The server's GOAWAY, if one arrived.
    private(set) var goAway: (errorCode: UInt32, lastStreamID: Int32)?
    private var headerBlock = HeaderBlock()

    /// Per-stream and connection receive windows the client advertises (large, so big responses flow).
    static let streamWindow: Int32 = 16 << 20
    static let connectionWindow: Int32 = 32 << 20

    init(maxResponseBodyBytes: Int) throws(H2Error) {
        self.maxResponseBodyBytes = maxResponseBodyBytes
        var s: OpaquePointer?
        let rc = NGHTTP2Callbacks.makeClientSession(&s, userData: Unmanaged.passUnretained(self).toOpaque())
        guard rc == 0, let s else { throw .protocolError("creating client session: \(NGHTTP2Callbacks.describe(rc))") }
        session = s
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                                   value: UInt32(Self.streamWindow)),
        ]
        var r = nghttp2_submit_settings(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        if r == 0 {
            r = nghttp2_session_set_local_window_size(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Self.connectionWindow)
        }
        guard r == 0 else { throw .protocolError("configuring client session: \(NGHTTP2Callbacks.describe(r))") }
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    /// Queues a request; returns its stream id and state.
    func submit(method: String, path: String, authority: String, headers: [(name: String, value: String)],
                body: [UInt8]) throws(H2Error) -> (Int32, ClientStream) {
        guard let session else { throw .invalidState("HTTP/2 session is closed") }
        headerBlock.reset()
        headerBlock.add(":method", method)
        headerBlock.add(":scheme", "http")
        headerBlock.add(":authority", authority)
        headerBlock.add(":path", path)
        headerBlock.addUserFields(headers)
        if !body.isEmpty || method == "POST" || method == "PUT" { headerBlock.add("content-length", String(body.count)) }
        let stream = ClientStream(requestBody: body)
        let id: Int32
        if body.isEmpty {
            id = headerBlock.withNameValues { nghttp2_submit_request(session, nil, $0, $1, nil, nil) }
        } else {
            var provider = nghttp2_data_provider()
            provider.read_callback = NGHTTP2Callbacks.clientReadRequest
            id = headerBlock.withNameValues { nghttp2_submit_request(session, nil, $0, $1, &provider, nil) }
        }
        guard id > 0 else { throw .protocolError("submitting request: \(NGHTTP2Callbacks.describe(id))") }
        streams[id] = stream
        return (id, stream)
    }

    /// Feeds bytes read from the server; returns an error description when the session failed.
    func receive(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let session else { return "session closed" }
        let rc = nghttp2_session_mem_recv(session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        return rc < 0 ? NGHTTP2Callbacks.describe(Int32(truncatingIfNeeded: rc)) : nil
    }

    /// Appends frames to send to `out` until it holds `limit` bytes or nothing is ready. False on a fatal error.
    func produce(into out: inout OutputBuffer, limit: Int) -> Bool {
        guard let session else { return true }
        while out.count < limit {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &data)
            if n < 0 { return false }
            if n == 0 { break }
            out.append(UnsafeRawBufferPointer(start: data, count: n))
        }
        return true
    }

    var wantsRead: Bool { session.map { nghttp2_session_want_read($0) != 0 } ?? false }
    var wantsWrite: Bool { session.map { nghttp2_session_want_write($0) != 0 } ?? false }

    /// Resets `streamID` with CANCEL (the caller gave up on it).
    func cancel(streamID: Int32) {
        guard let session else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_CANCEL.rawValue)
    }

    /// Stops tracking `streamID` (its result was taken).
    func forget(streamID: Int32) { streams[streamID] = nil }

    /// Queues GOAWAY(NO_ERROR) and ends the session.
    func terminate() {
        guard let session else { return }
        _ = nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR.rawValue)
    }

    // MARK: Callbacks

    func onHeader(streamID: Int32, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        guard let stream = streams[streamID] else { return }
        let n = String(decoding: name, as: UTF8.self)
        let v = String(decoding: value, as: UTF8.self)
        if n == ":status" {
            // A 1xx informational response is followed by the final one; keep the last.
            stream.status = Int(v)
            if let s = stream.status, s < 200 { stream.headers = [] }
            return
        }
        if n.first == ":" { return }
        if n == "content-length", let declared = Int(v), declared <= maxResponseBodyBytes {
            stream.body.reserveCapacity(declared)
        }
        stream.headers.append((n, v))
    }

    func onFrameComplete(streamID: Int32, isHeaders: Bool, endStream: Bool) {
        guard endStream, let stream = streams[streamID], let status = stream.status, status >= 200 else { return }
        stream.complete = true
    }

    func onData(streamID: Int32, _ data: UnsafeBufferPointer<UInt8>) {
        guard let stream = streams[streamID], !stream.tooLarge else { return }
        if stream.body.count + data.count > maxResponseBodyBytes {
            stream.tooLarge = true
            stream.body = []
            cancel(streamID: streamID)
            return
        }
        stream.body.append(contentsOf: data)
    }

    func onStreamClose(streamID: Int32, errorCode: UInt32) {
        guard let stream = streams[streamID] else { return }
        stream.closed = true
        stream.closeCode = errorCode
    }

    func onGoAway(errorCode: UInt32, lastStreamID: Int32) {
        goAway = (errorCode, lastStreamID)
    }

    func readRequest(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, eof: Bool)? {
        streams[streamID]?.requestBody.read(into: buffer)
    }
}

@available(*, unavailable)
extension ClientSession: Sendable {}
