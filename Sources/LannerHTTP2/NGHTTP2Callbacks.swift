import CNGHTTP2

/// The one place where nghttp2 calls back into Swift. Every callback is a capture-free C function that turns
/// `user_data` back into its session object (`Unmanaged`, unretained: the session object owns the
/// `nghttp2_session` and outlives it) and forwards plain Swift values.
enum NGHTTP2Callbacks {
    /// Creates a server `nghttp2_session` with Lanner's callbacks and options (manual flow control, no retained
    /// closed streams). Returns nghttp2's result code.
    static func makeServerSession(_ session: inout OpaquePointer?, userData: UnsafeMutableRawPointer) -> Int32 {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return NGHTTP2_ERR_NOMEM.rawValue }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, serverBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, serverHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, serverFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, serverDataChunk)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, serverStreamClose)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, serverFrameSend)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { return NGHTTP2_ERR_NOMEM.rawValue }
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_no_closed_streams(option, 1)
        return nghttp2_session_server_new2(&session, callbacks, userData, option)
    }

    /// Creates a client `nghttp2_session` (automatic flow control: the client bounds response bodies itself).
    static func makeClientSession(_ session: inout OpaquePointer?, userData: UnsafeMutableRawPointer) -> Int32 {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return NGHTTP2_ERR_NOMEM.rawValue }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback(callbacks, clientHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, clientFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, clientDataChunk)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, clientStreamClose)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { return NGHTTP2_ERR_NOMEM.rawValue }
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_no_closed_streams(option, 1)
        return nghttp2_session_client_new2(&session, callbacks, userData, option)
    }

    /// nghttp2's text for a library error code.
    static func describe(_ code: Int32) -> String {
        "\(String(cString: nghttp2_strerror(code))) (\(code))"
    }

    /// Data-source read callback for server responses.
    static let serverReadResponse: nghttp2_data_source_read_callback = { _, streamID, buf, length, flags, _, userData in
        guard let buf, let flags, let userData else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        guard let (n, eof) = server(userData).readResponse(
            streamID: streamID, into: UnsafeMutableRawBufferPointer(start: buf, count: length))
        else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        if eof { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
        return n
    }

    /// Data-source read callback for client request bodies.
    static let clientReadRequest: nghttp2_data_source_read_callback = { _, streamID, buf, length, flags, _, userData in
        guard let buf, let flags, let userData else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        guard let (n, eof) = client(userData).readRequest(
            streamID: streamID, into: UnsafeMutableRawBufferPointer(start: buf, count: length))
        else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        if eof { flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
        return n
    }
}

private func server(_ userData: UnsafeMutableRawPointer) -> ServerSession {
    Unmanaged<ServerSession>.fromOpaque(userData).takeUnretainedValue()
}

private func client(_ userData: UnsafeMutableRawPointer) -> ClientSession {
    Unmanaged<ClientSession>.fromOpaque(userData).takeUnretainedValue()
}

private let headersType = UInt8(NGHTTP2_HEADERS.rawValue)
private let dataType = UInt8(NGHTTP2_DATA.rawValue)
private let goAwayType = UInt8(NGHTTP2_GOAWAY.rawValue)
private let endStreamFlag = UInt8(NGHTTP2_FLAG_END_STREAM.rawValue)

// MARK: Server

private let serverBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
    guard let frame, let userData else { return 0 }
    if frame.pointee.hd.type == headersType && frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
        server(userData).onBeginRequest(streamID: frame.pointee.hd.stream_id)
    }
    return 0
}

private let serverHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    guard let frame, let userData, frame.pointee.hd.type == headersType else { return 0 }
    server(userData).onHeader(streamID: frame.pointee.hd.stream_id,
                              isRequest: frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST,
                              name: UnsafeBufferPointer(start: name, count: nameLength),
                              value: UnsafeBufferPointer(start: value, count: valueLength))
    return 0
}

private let serverFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
    guard let frame, let userData else { return 0 }
    let hd = frame.pointee.hd
    let endStream = hd.flags & endStreamFlag != 0
    switch hd.type {
    case headersType: server(userData).onHeadersComplete(streamID: hd.stream_id, endStream: endStream)
    case dataType: server(userData).onDataComplete(streamID: hd.stream_id, endStream: endStream)
    default: break
    }
    return 0
}

private let serverDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    guard let userData else { return 0 }
    server(userData).onData(streamID: streamID, UnsafeBufferPointer(start: data, count: length))
    return 0
}

private let serverStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    guard let userData else { return 0 }
    server(userData).onStreamClose(streamID: streamID, errorCode: errorCode)
    return 0
}

private let serverFrameSend: nghttp2_on_frame_send_callback = { _, frame, userData in
    guard let frame, let userData else { return 0 }
    let hd = frame.pointee.hd
    switch hd.type {
    case goAwayType:
        server(userData).onGoAwaySent(errorCode: frame.pointee.goaway.error_code)
    case headersType, dataType:
        if hd.flags & endStreamFlag != 0 { server(userData).onResponseFinished(streamID: hd.stream_id) }
    default:
        break
    }
    return 0
}

// MARK: Client

private let clientHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    guard let frame, let userData, frame.pointee.hd.type == headersType else { return 0 }
    client(userData).onHeader(streamID: frame.pointee.hd.stream_id,
                              name: UnsafeBufferPointer(start: name, count: nameLength),
                              value: UnsafeBufferPointer(start: value, count: valueLength))
    return 0
}

private let clientFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
    guard let frame, let userData else { return 0 }
    let hd = frame.pointee.hd
    switch hd.type {
    case headersType, dataType:
        client(userData).onFrameComplete(streamID: hd.stream_id, isHeaders: hd.type == headersType,
                                         endStream: hd.flags & endStreamFlag != 0)
    case goAwayType:
        client(userData).onGoAway(errorCode: frame.pointee.goaway.error_code,
                                  lastStreamID: frame.pointee.goaway.last_stream_id)
    default:
        break
    }
    return 0
}

private let clientDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    guard let userData else { return 0 }
    client(userData).onData(streamID: streamID, UnsafeBufferPointer(start: data, count: length))
    return 0
}

private let clientStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    guard let userData else { return 0 }
    client(userData).onStreamClose(streamID: streamID, errorCode: errorCode)
    return 0
}
