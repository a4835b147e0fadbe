import CNGHTTP2

/// One request stream on the server side.
final class ServerStream {
    enum Phase {
        /// Headers and body arriving.
        case receiving
        /// END_STREAM seen; waiting to be handed to the application.
        case complete
        /// With the application, which has not answered yet.
        case dispatched
        /// The application's response is being sent.
        case responding
        /// The server answered an error itself (413, 431) and discards whatever still arrives.
        case rejected
        /// Reset by the server (load shedding); discards whatever still arrives.
        case refused
    }

    let id: Int32
    var phase = Phase.receiving
    var method = ""
    var path = ""
    var authority: String?
    var headers: [(name: String, value: String)] = []
    var headerListBytes = 0
    var body: [UInt8] = []
    /// Request bytes of this stream counted in the session's `bufferedBytes`.
    var heldBytes = 0
    /// Received bytes not yet returned to the peer as flow-control credit (deferred by backpressure).
    var unconsumedBytes = 0
    /// The client has finished sending (END_STREAM received).
    var remoteClosed = false
    /// Status the server answers itself once headers are complete (413 declared too large, 431).
    var rejectStatus: Int?
    var response = OutgoingBody()

    init(id: Int32) { self.id = id }
}

/// The server side of one HTTP/2 connection: an nghttp2 session plus the request streams, independent of
/// sockets. Bytes go in through `receive`, which returns the requests to hand to the application (actions, not
/// I/O); frames come out through `produce`.
///
/// Flow control: automatic WINDOW_UPDATE is off. Received DATA is returned as credit (`nghttp2_session_consume`)
/// as soon as it is buffered while the connection holds at most `maxBufferedBytesPerConnection`; above that, the
/// credit is deferred until the application answers and memory is freed. So a slow application slows its
/// clients down instead of growing memory: a connection buffers at most the cap plus the connection window.
final class ServerSession {
    /// What `receive` asks the caller to do.
    enum ReceiveResult {
        /// Hand these requests to the application (possibly none).
        case requests([(streamID: Int32, request: H2Request)])
        /// The session failed beyond repair; close the connection.
        case failed(String)
    }

    let limits: H2Limits
    let peer: String
    private let counters: ServerCounterCells
    private var session: OpaquePointer?
    private var streams: [Int32: ServerStream] = [:]
    /// Request bytes held by this connection: bodies being received plus bodies with the application.
    private(set) var bufferedBytes = 0
    /// Streams whose flow-control credit is deferred, oldest first.
    private var deferred: [ServerStream] = []
    /// Streams that completed during the current `receive`.
    private var completed: [ServerStream] = []
    /// Streams to answer with an error status after the current `receive`.
    private var toReject: [ServerStream] = []
    /// Requests the application holds and has not answered.
    private(set) var withApplication = 0
    /// A GOAWAY with an error code went out (counted once as a protocol error).
    private var sentErrorGoAway = false
    private var headerBlock = HeaderBlock()

    init(limits: H2Limits, peer: String, counters: ServerCounterCells) throws(H2Error) {
        self.limits = limits
        self.peer = peer
        self.counters = counters
        var s: OpaquePointer?
        let rc = NGHTTP2Callbacks.makeServerSession(&s, userData: Unmanaged.passUnretained(self).toOpaque())
        guard rc == 0, let s else { throw .protocolError("creating server session: \(NGHTTP2Callbacks.describe(rc))") }
        session = s
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                                   value: UInt32(limits.maxConcurrentStreams)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                                   value: UInt32(limits.streamWindowBytes)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                                   value: UInt32(limits.maxHeaderListBytes)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        var r = nghttp2_submit_settings(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        if r == 0 {
            r = nghttp2_session_set_local_window_size(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0,
                                                      Int32(limits.connectionWindowBytes))
        }
        guard r == 0 else { throw .protocolError("configuring server session: \(NGHTTP2Callbacks.describe(r))") }
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    // MARK: Driving the session

    /// Feeds bytes read from the peer.
    func receive(_ bytes: UnsafeRawBufferPointer) -> ReceiveResult {
        guard let session else { return .failed("session closed") }
        let rc = nghttp2_session_mem_recv(session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        if rc < 0 {
            completed.removeAll()
            toReject.removeAll()
            return .failed(NGHTTP2Callbacks.describe(Int32(truncatingIfNeeded: rc)))
        }
        for stream in toReject where streams[stream.id] === stream {
            reject(stream, status: stream.rejectStatus ?? 400)
        }
        toReject.removeAll(keepingCapacity: true)

        var requests: [(streamID: Int32, request: H2Request)] = []
        if !completed.isEmpty {
            requests.reserveCapacity(completed.count)
            for stream in completed where stream.phase == .complete && streams[stream.id] === stream {
                stream.phase = .dispatched
                withApplication += 1
                let request = H2Request(method: stream.method, path: stream.path, authority: stream.authority,
                                        headers: stream.headers, body: stream.body, peer: peer)
                stream.body = []
                stream.headers = []
                requests.append((stream.id, request))
            }
            completed.removeAll(keepingCapacity: true)
        }
        if !deferred.isEmpty && withApplication == 0 && peerIsBlocked() { shedLoad() }
        return .requests(requests)
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

    /// The session still expects input.
    var wantsRead: Bool { session.map { nghttp2_session_want_read($0) != 0 } ?? false }
    /// The session has frames to send.
    var wantsWrite: Bool { session.map { nghttp2_session_want_write($0) != 0 } ?? false }
    /// Neither: the connection can close once the output is written.
    var isFinished: Bool { !wantsRead && !wantsWrite }

    /// Sends GOAWAY with `errorCode` and finishes the session.
    func terminate(errorCode: UInt32 = NGHTTP2_NO_ERROR.rawValue) {
        guard let session else { return }
        _ = nghttp2_session_terminate_session(session, errorCode)
    }

    /// Submits the application's answer for `streamID`. False when the stream is gone (reset, closed).
    func respond(streamID: Int32, response: H2Response) -> Bool {
        guard let stream = streams[streamID], stream.phase == .dispatched else { return false }
        withApplication -= 1
        release(stream)
        submit(stream, status: response.status, headers: response.headers, body: response.body)
        return true
    }

    // MARK: Callbacks (called by NGHTTP2Callbacks during mem_recv / mem_send)

    func onBeginRequest(streamID: Int32) {
        streams[streamID] = ServerStream(id: streamID)
        counters.requests.wrappingAdd(1, ordering: .relaxed)
    }

    func onHeader(streamID: Int32, isRequest: Bool, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        guard let stream = streams[streamID] else { return }
        stream.headerListBytes += name.count + value.count + 32
        if stream.headerListBytes > limits.maxHeaderListBytes {
            if stream.rejectStatus == nil { stream.rejectStatus = 431 }
            stream.headers = []
            return
        }
        guard isRequest, stream.phase == .receiving else { return }   // trailers are not kept
        let v = String(decoding: value, as: UTF8.self)
        if name.first == UInt8(ascii: ":") {
            switch String(decoding: name, as: UTF8.self) {
            case ":method": stream.method = v
            case ":path": stream.path = v
            case ":authority": stream.authority = v
            default: break
            }
            return
        }
        let n = String(decoding: name, as: UTF8.self)
        if n == "content-length", let declared = Int(v) {
            if declared > limits.maxRequestBodyBytes {
                if stream.rejectStatus == nil { stream.rejectStatus = 413 }
            } else {
                stream.body.reserveCapacity(declared)
            }
        } else if n == "host" && stream.authority == nil {
            stream.authority = v
        }
        stream.headers.append((n, v))
    }

    func onHeadersComplete(streamID: Int32, endStream: Bool) {
        guard let stream = streams[streamID] else { return }
        if endStream { stream.remoteClosed = true }
        if stream.phase == .receiving && stream.rejectStatus != nil {
            stream.phase = .rejected
            toReject.append(stream)
        } else if endStream && stream.phase == .receiving {
            stream.phase = .complete
            completed.append(stream)
        }
    }

    func onData(streamID: Int32, _ data: UnsafeBufferPointer<UInt8>) {
        guard let session else { return }
        guard let stream = streams[streamID], stream.phase == .receiving else {
            // Not buffered, so immediately returned as credit.
            _ = nghttp2_session_consume(session, streamID, data.count)
            return
        }
        if stream.body.count + data.count > limits.maxRequestBodyBytes {
            stream.rejectStatus = 413
            stream.phase = .rejected
            release(stream)
            _ = nghttp2_session_consume(session, streamID, data.count)
            toReject.append(stream)
            return
        }
        stream.body.append(contentsOf: data)
        stream.heldBytes += data.count
        bufferedBytes += data.count
        if bufferedBytes <= limits.maxBufferedBytesPerConnection {
            _ = nghttp2_session_consume(session, streamID, data.count)
        } else {
            if stream.unconsumedBytes == 0 { deferred.append(stream) }
            stream.unconsumedBytes += data.count
        }
    }

    func onDataComplete(streamID: Int32, endStream: Bool) {
        guard endStream, let stream = streams[streamID] else { return }
        stream.remoteClosed = true
        if stream.phase == .receiving {
            stream.phase = .complete
            completed.append(stream)
        }
    }

    func onStreamClose(streamID: Int32, errorCode: UInt32) {
        guard let stream = streams.removeValue(forKey: streamID) else { return }
        if errorCode != NGHTTP2_NO_ERROR.rawValue || stream.phase == .receiving {
            counters.streamsReset.wrappingAdd(1, ordering: .relaxed)
        }
        if stream.phase == .dispatched { withApplication -= 1 }
        release(stream)
    }

    /// A response frame with END_STREAM went out. If the client is still sending a request we refused, tell it to
    /// stop (RST_STREAM NO_ERROR after a complete response, RFC 9113 section 8.1).
    func onResponseFinished(streamID: Int32) {
        guard let session, let stream = streams[streamID] else { return }
        if stream.phase == .rejected && !stream.remoteClosed {
            _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID,
                                          NGHTTP2_NO_ERROR.rawValue)
        }
    }

    func onGoAwaySent(errorCode: UInt32) {
        if errorCode != NGHTTP2_NO_ERROR.rawValue && !sentErrorGoAway {
            sentErrorGoAway = true
            counters.protocolErrors.wrappingAdd(1, ordering: .relaxed)
        }
    }

    /// True once a GOAWAY with an error went out (the protocol error is already counted).
    var hasReportedProtocolError: Bool { sentErrorGoAway }

    /// Copies the next piece of `streamID`'s response body into `buffer`. Returns the length, or nil when the
    /// stream is unknown; `eof` tells whether the body is finished.
    func readResponse(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, eof: Bool)? {
        streams[streamID]?.response.read(into: buffer)
    }

    // MARK: Internals

    private func submit(_ stream: ServerStream, status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        guard let session else { return }
        let status = (200...599).contains(status) ? status : 500
        if stream.phase != .rejected { stream.phase = .responding }
        stream.response = OutgoingBody(body)
        headerBlock.reset()
        headerBlock.add(":status", String(status))
        headerBlock.addUserFields(headers)
        headerBlock.add("content-length", String(body.count))
        let rc: Int32
        if body.isEmpty {
            rc = headerBlock.withNameValues { nghttp2_submit_response(session, stream.id, $0, $1, nil) }
        } else {
            var provider = nghttp2_data_provider()
            provider.read_callback = NGHTTP2Callbacks.serverReadResponse
            rc = headerBlock.withNameValues { nghttp2_submit_response(session, stream.id, $0, $1, &provider) }
        }
        if rc != 0 {
            _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id,
                                          NGHTTP2_INTERNAL_ERROR.rawValue)
            return
        }
        switch status {
        case 400..<500: counters.responses4xx.wrappingAdd(1, ordering: .relaxed)
        case 500..<600: counters.responses5xx.wrappingAdd(1, ordering: .relaxed)
        default: break
        }
    }

    /// Answers `stream` with an error status of the server's own and stops buffering it.
    private func reject(_ stream: ServerStream, status: Int) {
        release(stream)
        stream.phase = .rejected
        let reason: String
        switch status {
        case 413: reason = "request body exceeds the limit of \(limits.maxRequestBodyBytes) bytes\n"
        case 431: reason = "request header list exceeds the limit of \(limits.maxHeaderListBytes) bytes\n"
        default: reason = "bad request\n"
        }
        submit(stream, status: status, headers: [("content-type", "text/plain; charset=utf-8")],
               body: Array(reason.utf8))
    }

    /// Forgets the stream's buffered request bytes and returns any deferred credit.
    private func release(_ stream: ServerStream) {
        bufferedBytes -= stream.heldBytes
        stream.heldBytes = 0
        stream.body = []
        if stream.unconsumedBytes > 0, let session {
            _ = nghttp2_session_consume(session, stream.id, stream.unconsumedBytes)
            stream.unconsumedBytes = 0
        }
        returnDeferredCredit()
    }

    /// Grants deferred credit, oldest stream first, while the connection is under its cap.
    private func returnDeferredCredit() {
        guard let session else { return }
        var granted = 0
        while granted < deferred.count && bufferedBytes <= limits.maxBufferedBytesPerConnection {
            let s = deferred[granted]
            if s.unconsumedBytes > 0 {
                _ = nghttp2_session_consume(session, s.id, s.unconsumedBytes)
                s.unconsumedBytes = 0
            }
            granted += 1
        }
        if granted > 0 { deferred.removeFirst(granted) }
        deferred.removeAll { $0.unconsumedBytes == 0 }
    }

    /// True when the peer cannot send another DATA byte: the connection window is used up, or every stream still
    /// receiving has used up its own window.
    private func peerIsBlocked() -> Bool {
        guard let session else { return false }
        if nghttp2_session_get_local_window_size(session) <= 0 { return true }
        return streams.values.allSatisfy {
            $0.phase != .receiving || nghttp2_session_get_stream_local_window_size(session, $0.id) <= 0
        }
    }

    /// Over the cap, nothing at the application to free memory, and the peer blocked by flow control: no stream
    /// can ever finish. Refuse the newest unfinished streams (REFUSED_STREAM: not processed, safe to retry) until
    /// the rest fit.
    private func shedLoad() {
        guard let session else { return }
        let receiving = streams.values.filter { $0.phase == .receiving && $0.heldBytes > 0 }.sorted { $0.id > $1.id }
        for stream in receiving where bufferedBytes > limits.maxBufferedBytesPerConnection {
            stream.phase = .refused
            _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id,
                                          NGHTTP2_REFUSED_STREAM.rawValue)
            release(stream)
        }
    }
}

@available(*, unavailable)
extension ServerSession: Sendable {}
