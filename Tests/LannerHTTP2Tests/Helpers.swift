import Foundation
import Testing
@testable import LannerHTTP2

/// An echo handler: answers 200 with the request body and the request's line in headers.
let echo: @Sendable (H2Request, @escaping H2Responder) -> Void = { request, respond in
    respond(H2Response(status: 200, headers: [("x-method", request.method), ("x-path", request.path),
                                              ("x-authority", request.authority ?? ""), ("x-peer", request.peer),
                                              ("x-test", request.header("x-test") ?? "")],
                       body: request.body))
}

/// Starts a server on an ephemeral loopback port; stopped by the caller (or deinit).
func startServer(limits: H2Limits = .init(),
                 handler: @escaping @Sendable (H2Request, @escaping H2Responder) -> Void = echo,
                 log: H2Log? = nil) throws -> H2Server {
    let server = try H2Server(host: "127.0.0.1", port: 0, limits: limits, log: log, handler: handler)
    try server.start()
    return server
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var x = seed | 1
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { raw in
        var i = 0
        while i < count {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            withUnsafeBytes(of: x) { w in
                let n = min(8, count - i)
                raw.baseAddress!.advanced(by: i).copyMemory(from: w.baseAddress!, byteCount: n)
            }
            i += 8
        }
    }
    return out
}

/// Polls `condition` until true or `timeout` passes.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
    let deadline = Deadline(after: timeout)
    while !deadline.hasPassed {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

/// A raw TCP connection for feeding the server hand-made (and broken) bytes.
final class RawConnection {
    private(set) var fd: Int32

    init(port: UInt16) throws {
        fd = try Socket.connect(host: "127.0.0.1", port: port, timeout: .seconds(2))
    }

    deinit { close() }

    func send(_ data: [UInt8]) {
        var offset = 0
        while offset < data.count && fd >= 0 {
            let n = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, data.count - offset, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 1000)
                continue
            }
            return
        }
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    /// Reads until the peer closes or `timeout` passes; returns what arrived and whether the peer closed.
    func readUntilClosed(timeout: Duration = .seconds(5)) -> (bytes: [UInt8], closed: Bool) {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = Deadline(after: timeout)
        while !deadline.hasPassed {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, deadline.remainingMilliseconds) <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 { result.append(contentsOf: buffer[..<n]); continue }
            if n == 0 || (errno != EAGAIN && errno != EINTR) { return (result, true) }
        }
        return (result, false)
    }

    /// Closes abruptly with a TCP reset (SO_LINGER 0) instead of a FIN.
    func reset() {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    func close() {
        if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
    }
}

/// Hand-made HTTP/2 frames (RFC 9113 section 4.1) and HPACK literals (RFC 7541 section 6.2.2), enough to build
/// requests nghttp2's client would refuse to send.
enum Frames {
    static let preface = PrefaceSniffer.preface

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8], declaredLength: Int? = nil) -> [UInt8] {
        let n = declaredLength ?? payload.count
        return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags,
                UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)]
            + payload
    }

    static let emptySettings = frame(type: 4, flags: 0, stream: 0, payload: [])

    /// HPACK integer with an `prefixBits`-bit prefix.
    static func integer(_ value: Int, prefixBits: Int, firstByte: UInt8) -> [UInt8] {
        let max = (1 << prefixBits) - 1
        if value < max { return [firstByte | UInt8(value)] }
        var out = [firstByte | UInt8(max)]
        var v = value - max
        while v >= 128 { out.append(UInt8(v & 0x7f | 0x80)); v >>= 7 }
        out.append(UInt8(v))
        return out
    }

    /// A literal header field without indexing, new name, no Huffman coding.
    static func literal(_ name: String, _ value: String) -> [UInt8] {
        [0x00] + integer(name.utf8.count, prefixBits: 7, firstByte: 0) + Array(name.utf8)
            + integer(value.utf8.count, prefixBits: 7, firstByte: 0) + Array(value.utf8)
    }

    /// A request header block: :method, :scheme http, :path, :authority, plus `extra`.
    static func requestBlock(method: String = "POST", path: String = "/raw", extra: [(String, String)] = []) -> [UInt8] {
        var block = literal(":method", method) + literal(":scheme", "http") + literal(":path", path)
            + literal(":authority", "test")
        for (n, v) in extra { block += literal(n, v) }
        return block
    }

    static func headers(stream: UInt32, block: [UInt8], endStream: Bool) -> [UInt8] {
        frame(type: 1, flags: 0x4 | (endStream ? 0x1 : 0), stream: stream, payload: block)
    }

    static func data(stream: UInt32, _ payload: [UInt8], endStream: Bool) -> [UInt8] {
        frame(type: 0, flags: endStream ? 0x1 : 0, stream: stream, payload: payload)
    }
}

/// How many TCP sockets (with a descriptor, not TIME_WAIT) in this process's network namespace have local port
/// `port`, excluding the listener: the server side of connections the server still holds open.
func openServerSockets(port: UInt16) -> Int {
    var count = 0
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 9, let colon = f[1].lastIndex(of: ":"),
                  UInt16(f[1][f[1].index(after: colon)...], radix: 16) == port else { continue }
            let state = f[3], inode = f[9]
            if state != "0A" && inode != "0" { count += 1 }   // 0A = LISTEN; inode 0 = no descriptor (TIME_WAIT)
        }
    }
    return count
}
