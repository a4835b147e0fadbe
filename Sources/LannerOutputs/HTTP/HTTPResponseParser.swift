/// An HTTP/1.1 response: status, headers and (the first `HTTPResponseParser.maxKeptBody` bytes of) the body.
struct HTTPResponse: Equatable {
    var status: Int
    var reason: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    var minorVersion: Int
    var headers: [HTTPHeader]
    var body: [UInt8]
    /// The body's whole length (more than `body.count` when it was cut).
    var bodyLength: Int
    /// True when the connection can carry another request.
    var keepAlive: Bool

    /// The first value of a header, by case-insensitive name.
    func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first(where: { $0.name.lowercased() == n })?.value
    }
}

/// Why a response could not be read.
struct HTTPParseError: Error, Equatable, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Reads one HTTP/1.1 response from bytes as they arrive: push with `append`, pull with `next` (nil: more
/// bytes needed), and `finish` at end of stream (a body delimited by the connection closing ends there).
/// Handles interim 1xx responses (skipped), Content-Length, chunked transfer coding (extensions and trailers
/// ignored) and bodies that run to the close. Every size is bounded: the head at 64 KiB, a chunk-size line
/// at 1 KiB, the kept body at 64 KiB (the rest is counted and discarded). LF-only line ends are accepted.
struct HTTPResponseParser {
    static let maxHead = 64 << 10
    static let maxKeptBody = 64 << 10
    static let maxLine = 1 << 10

    private enum State {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case done
    }

    private var buffer: [UInt8] = []
    private var pos = 0
    /// Where the search for the next line end resumes (bytes before it hold none), so a long line arriving in
    /// small pieces is scanned once.
    private var scanFrom = 0
    private var state = State.head
    private var response = HTTPResponse(status: 0, reason: "", minorVersion: 1, headers: [], body: [], bodyLength: 0, keepAlive: true)
    private var headBytes = 0
    /// True when no byte at all has arrived.
    private(set) var sawNothing = true
    let requestWasHead: Bool

    init(requestWasHead: Bool = false) { self.requestWasHead = requestWasHead }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if bytes.isEmpty { return }
        sawNothing = false
        if pos > 0 && pos == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            scanFrom = 0
            pos = 0
        } else if pos >= 65_536 {
            buffer.removeFirst(pos)
            scanFrom = max(0, scanFrom - pos)
            pos = 0
        }
        buffer.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Bytes after the complete response (a server that sent more than it should; do not reuse the connection).
    var leftover: Int { buffer.count - pos }

    /// The response once it is complete; nil while more bytes are needed.
    mutating func next() throws(HTTPParseError) -> HTTPResponse? {
        while true {
            switch state {
            case .done:
                return response
            case .head:
                guard let line = try line(limit: Self.maxHead - headBytes, what: "the response head") else { return nil }
                headBytes += line.count + 2
                if headBytes > Self.maxHead { throw HTTPParseError(message: "the response head is larger than 64 KiB") }
                if response.status == 0 {
                    if line.isEmpty { continue }   // tolerate blank lines before the status line
                    try statusLine(line)
                } else if line.isEmpty {
                    try endOfHead()
                } else {
                    try headerLine(line)
                }
            case .fixed(let remaining):
                let n = min(remaining, buffer.count - pos)
                keep(n)
                state = remaining - n == 0 ? .done : .fixed(remaining: remaining - n)
                if remaining - n > 0 { return nil }
            case .chunkSize:
                guard let line = try line(limit: Self.maxLine, what: "a chunk size") else { return nil }
                let hex = line.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
                guard !hex.isEmpty, hex.count <= 15, let size = Int(String(decoding: hex, as: UTF8.self), radix: 16) else {
                    throw HTTPParseError(message: "bad chunk size line '\(Self.printable(line))'")
                }
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let n = min(remaining, buffer.count - pos)
                keep(n)
                if remaining - n > 0 {
                    state = .chunkData(remaining: remaining - n)
                    return nil
                }
                state = .chunkDataEnd
            case .chunkDataEnd:
                guard let line = try line(limit: 2, what: "the end of a chunk") else { return nil }
                guard line.isEmpty else { throw HTTPParseError(message: "a chunk is longer than its size says") }
                state = .chunkSize
            case .trailers:
                guard let line = try line(limit: Self.maxHead, what: "the trailers") else { return nil }
                if line.isEmpty { state = .done }
            case .untilClose:
                keep(buffer.count - pos)
                return nil
            }
        }
    }

    /// At end of stream: the response if the stream ended where it may, else why it is incomplete.
    mutating func finish() throws(HTTPParseError) -> HTTPResponse {
        if let r = try next() { return r }
        if case .untilClose = state {
            state = .done
            return response
        }
        if sawNothing { throw HTTPParseError(message: "the server closed the connection without a response") }
        throw HTTPParseError(message: "the server closed the connection in the middle of the response")
    }

    // MARK: pieces

    private mutating func keep(_ n: Int) {
        guard n > 0 else { return }
        let room = Self.maxKeptBody - response.body.count
        if room > 0 { response.body.append(contentsOf: buffer[pos..<(pos + min(n, room))]) }
        response.bodyLength += n
        pos += n
    }

    /// The next line without its line end; nil when it has not fully arrived.
    private mutating func line(limit: Int, what: String) throws(HTTPParseError) -> ArraySlice<UInt8>? {
        var i = max(pos, scanFrom)
        while i < buffer.count && buffer[i] != 0x0A {
            i += 1
            if i - pos > limit { throw HTTPParseError(message: "\(what) is too long") }
        }
        guard i < buffer.count else {
            if buffer.count - pos > limit { throw HTTPParseError(message: "\(what) is too long") }
            scanFrom = buffer.count
            return nil
        }
        var end = i
        if end > pos && buffer[end - 1] == 0x0D { end -= 1 }
        let line = buffer[pos..<end]
        pos = i + 1
        return line
    }

    private mutating func statusLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        let text = String(decoding: line, as: UTF8.self)
        let parts = text.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[0].count == 8,
              let minor = Int(parts[0].suffix(1)), parts[1].count == 3, let status = Int(parts[1]), (100...999).contains(status) else {
            throw HTTPParseError(message: "not an HTTP/1.x status line: '\(Self.printable(line))'")
        }
        response.minorVersion = minor
        response.status = status
        response.reason = parts.count > 2 ? Self.printable(parts[2].utf8[...]) : ""
        response.keepAlive = minor >= 1
    }

    private mutating func headerLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        if let first = line.first, first == 0x20 || first == 0x09 {
            // Obsolete line folding: part of the previous header's value.
            guard !response.headers.isEmpty else { throw HTTPParseError(message: "a header continuation with no header") }
            response.headers[response.headers.count - 1].value += " " + Self.trimmed(line)
            return
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
            throw HTTPParseError(message: "bad header line '\(Self.printable(line))'")
        }
        let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
        guard ConfigReader.isToken(name) else { throw HTTPParseError(message: "bad header name '\(Self.printable(line[..<colon]))'") }
        response.headers.append(HTTPHeader(name: name, value: Self.trimmed(line[(colon + 1)...])))
    }

    private mutating func endOfHead() throws(HTTPParseError) {
        let status = response.status
        if (100...199).contains(status) {
            if status == 101 { throw HTTPParseError(message: "unexpected 101 Switching Protocols") }
            // Interim response (100 Continue, 103 Early Hints): the real one follows.
            response = HTTPResponse(status: 0, reason: "", minorVersion: 1, headers: [], body: [], bodyLength: 0, keepAlive: true)
            headBytes = 0
            return
        }
        let connection = response.headers.filter { $0.name.lowercased() == "connection" }
            .flatMap { $0.value.lowercased().split(separator: ",").map { $0.trimmingSpaces } }
        if connection.contains("close") { response.keepAlive = false }
        if response.minorVersion == 0 && connection.contains("keep-alive") { response.keepAlive = true }

        if requestWasHead || status == 204 || status == 304 {
            state = .done
            return
        }
        let te = response.headers.filter { $0.name.lowercased() == "transfer-encoding" }
            .flatMap { $0.value.lowercased().split(separator: ",").map { $0.trimmingSpaces } }
        if !te.isEmpty {
            if te.last == "chunked" {
                state = .chunkSize
            } else {
                state = .untilClose
                response.keepAlive = false
            }
            return
        }
        let lengths = Set(response.headers.filter { $0.name.lowercased() == "content-length" }
            .flatMap { $0.value.split(separator: ",").map { $0.trimmingSpaces } })
        if lengths.isEmpty {
            state = .untilClose
            response.keepAlive = false
            return
        }
        guard lengths.count == 1, let text = lengths.first, text.count <= 18, text.allSatisfy({ $0.isNumber && $0.isASCII }),
              let n = Int(text) else {
            throw HTTPParseError(message: "bad Content-Length '\(lengths.sorted().joined(separator: ","))'")
        }
        state = n == 0 ? .done : .fixed(remaining: n)
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> String {
        var s = bytes
        while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return String(decoding: s, as: UTF8.self)
    }

    /// Bytes for an error message: control characters escaped, at most 120 characters.
    static func printable(_ bytes: some Collection<UInt8>) -> String {
        var o = ""
        for u in String(decoding: bytes.prefix(120), as: UTF8.self).unicodeScalars {
            if AlertText.isControl(u) { AlertText.appendControl(u, to: &o) } else { o.unicodeScalars.append(u) }
        }
        return bytes.count > 120 ? o + "…" : o
    }
}

private extension Substring {
    var trimmingSpaces: String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
