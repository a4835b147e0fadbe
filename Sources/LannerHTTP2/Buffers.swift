import CNGHTTP2

/// Bytes waiting to be written: appended at the back, consumed from the front without moving memory on each
/// partial write.
struct OutputBuffer {
    private var storage: [UInt8] = []
    private var start = 0

    var count: Int { storage.count - start }
    var isEmpty: Bool { start == storage.count }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        storage.append(contentsOf: bytes)
    }

    mutating func append(contentsOf bytes: [UInt8]) {
        storage.append(contentsOf: bytes)
    }

    /// Calls `body` with the unwritten bytes.
    func withUnsafeReadableBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start...])) }
    }

    /// Drops `n` written bytes from the front.
    mutating func consume(_ n: Int) {
        start += n
        if start == storage.count {
            // Keep a moderate buffer for the next burst; give back what a large response grew.
            storage.removeAll(keepingCapacity: storage.capacity <= 1 << 20)
            start = 0
        } else if start >= 1 << 20 && start * 2 >= storage.count {
            storage.removeFirst(start)
            start = 0
        }
    }

    mutating func removeAll() {
        storage = []
        start = 0
    }
}

/// Header fields laid out for one nghttp2 submit call: all names and values in one byte array and an
/// `nghttp2_nv` array pointing into it (nghttp2 copies both during the call). Reusable: `reset()` keeps the
/// storage, so a session answering many requests does not allocate for headers each time.
struct HeaderBlock {
    private var bytes: [UInt8] = [0]   // never empty, so its base address is never nil
    private var spans: [(name: Int, nameCount: Int, value: Int, valueCount: Int)] = []
    private var nva: [nghttp2_nv] = []

    var count: Int { spans.count }

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(0)
        spans.removeAll(keepingCapacity: true)
    }

    mutating func add(_ name: String, _ value: String) {
        let n = bytes.count
        bytes.append(contentsOf: name.utf8)
        let v = bytes.count
        bytes.append(contentsOf: value.utf8)
        spans.append((n, v - n, v, bytes.count - v))
    }

    /// Calls `body` with the `nghttp2_nv` array and its length.
    mutating func withNameValues<R>(_ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        let spans = self.spans
        var nva = self.nva
        self.nva = []
        nva.removeAll(keepingCapacity: true)
        defer { self.nva = nva }
        return bytes.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            for s in spans {
                nva.append(nghttp2_nv(name: base + s.name, value: base + s.value, namelen: s.nameCount,
                                      valuelen: s.valueCount, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
            }
            return nva.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }

    /// Adds the caller's header fields the way HTTP/2 allows them: lower-case names, no pseudo-headers, no
    /// connection-specific fields, no `content-length` (the caller sets it), nothing with CR, LF or NUL.
    mutating func addUserFields(_ fields: [(name: String, value: String)]) {
        for (name, value) in fields {
            let lower = name.lowercased()
            guard Self.isAllowedFieldName(lower), Self.isValidFieldValue(value) else { continue }
            add(lower, value)
        }
    }

    static func isAllowedFieldName(_ name: String) -> Bool {
        switch name {
        case "", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "content-length", "te":
            return false
        default:
            // RFC 9110 token characters, lower case.
            return name.utf8.allSatisfy { c in
                switch c {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
                default: return "!#$%&'*+-.^_`|~".utf8.contains(c)
                }
            }
        }
    }

    static func isValidFieldValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 0 || $0 == 0x0A || $0 == 0x0D }
    }
}

/// Decides from a connection's first bytes what the client speaks.
enum PrefaceSniffer {
    /// The HTTP/2 client connection preface (RFC 9113 section 3.4).
    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Verdict: Equatable {
        /// Too few bytes to tell.
        case needMore
        /// The full HTTP/2 preface.
        case http2
        /// An HTTP/1.x request line (`METHOD ` …).
        case http1
        /// A TLS record (a TLS client talking to a cleartext port).
        case tls
        /// Anything else.
        case garbage
    }

    static func classify(_ bytes: [UInt8]) -> Verdict {
        let n = min(bytes.count, preface.count)
        if bytes[..<n].elementsEqual(preface[..<n]) {
            return n == preface.count ? .http2 : .needMore
        }
        if bytes.first == 0x16 {
            return bytes.count < 2 ? .needMore : (bytes[1] == 0x03 ? .tls : .garbage)
        }
        // An HTTP/1 request line starts with an upper-case method token and a space.
        for (i, b) in bytes.enumerated() {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z") where i < 20: continue
            case UInt8(ascii: " ") where i > 0: return .http1
            default: return .garbage
            }
        }
        return bytes.count < 20 ? .needMore : .garbage
    }
}

/// A body being sent in DATA frames: nghttp2's data-source callback pulls it piece by piece.
struct OutgoingBody {
    private var bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8] = []) { self.bytes = bytes }

    var isEmpty: Bool { bytes.isEmpty }

    /// Copies the next piece into `buffer`; `eof` once everything was copied (the bytes are then released).
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, eof: Bool) {
        let n = min(buffer.count, bytes.count - offset)
        if n > 0 {
            bytes.withUnsafeBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress! + offset, byteCount: n)
            }
            offset += n
        }
        let eof = offset == bytes.count
        if eof { self = OutgoingBody() }
        return (n, eof)
    }
}
