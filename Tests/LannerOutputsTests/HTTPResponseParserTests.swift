import Testing
@testable import LannerOutputs

/// Every response is fed whole, byte by byte and in pseudo-random pieces; each way must give the same result.
@Suite struct HTTPResponseParserTests {
    static func parse(_ text: String, head: Bool = false, pieces: [Int]) throws -> (HTTPResponse, Int) {
        let bytes = Array(text.utf8)
        var p = HTTPResponseParser(requestWasHead: head)
        var i = 0, k = 0
        while i < bytes.count {
            let n = min(pieces[k % pieces.count], bytes.count - i)
            p.append(Array(bytes[i..<(i + n)]))
            i += n
            k += 1
            if let r = try p.next() { return (r, p.leftover) }
        }
        return (try p.finish(), p.leftover)
    }

    static let splits: [[Int]] = [[1 << 20], [1], [2, 7, 1, 13], [5, 3, 11, 17, 2]]

    static func each(_ text: String, head: Bool = false) throws -> HTTPResponse {
        let results = try splits.map { try parse(text, head: head, pieces: $0).0 }
        for r in results.dropFirst() { #expect(r == results[0]) }
        return results[0]
    }

    @Test func contentLength() throws {
        let r = try Self.each("HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Multi: a,\r\n  b\r\n\r\nhello")
        #expect(r.status == 201 && r.reason == "Created" && r.minorVersion == 1)
        #expect(r.body == Array("hello".utf8) && r.bodyLength == 5 && r.keepAlive)
        #expect(r.header("x-multi") == "a, b")
    }

    @Test func chunkedWithExtensionsAndTrailers() throws {
        let r = try Self.each("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n")
        #expect(String(decoding: r.body, as: UTF8.self) == "Wikipedia in\r\n\r\nchunks.")
        #expect(r.keepAlive)
    }

    @Test func interimResponsesAreSkipped() throws {
        let r = try Self.each("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
        #expect(r.status == 204 && r.body.isEmpty && r.header("link") == nil)
    }

    @Test func bodyUntilClose() throws {
        let r = try Self.each("HTTP/1.0 200 OK\r\n\r\nall of it")
        #expect(r.body == Array("all of it".utf8) && !r.keepAlive)
    }

    @Test func keepAliveRules() throws {
        #expect(try Self.each("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keepAlive == false)
        #expect(try Self.each("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n").keepAlive == true)
        #expect(try Self.each("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n").keepAlive == false)
    }

    @Test func headHasNoBody() throws {
        let r = try Self.each("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", head: true)
        #expect(r.bodyLength == 0)
    }

    @Test func bareLineFeeds() throws {
        let r = try Self.each("HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
        #expect(r.body == Array("ok".utf8))
    }

    @Test func bigBodyIsCountedNotKept() throws {
        let n = 200_000
        let r = try Self.each("HTTP/1.1 500 Oops\r\nContent-Length: \(n)\r\n\r\n" + String(repeating: "z", count: n))
        #expect(r.body.count == HTTPResponseParser.maxKeptBody && r.bodyLength == n)
    }

    @Test func extraBytesAreReported() throws {
        let (_, leftover) = try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxEXTRA", pieces: [1 << 20])
        #expect(leftover == 5)
    }

    @Test(arguments: [
        ("SMTP/1.0 200 OK\r\n\r\n", "not an HTTP/1.x status line: 'SMTP/1.0 200 OK'"),
        ("HTTP/1.1 20 OK\r\n\r\n", "not an HTTP/1.x status line: 'HTTP/1.1 20 OK'"),
        ("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "bad Content-Length 'x'"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "bad Content-Length '1,2'"),
        ("HTTP/1.1 200 OK\r\nbad header\r\n\r\n", "bad header line 'bad header'"),
        ("HTTP/1.1 200 OK\r\nBad Name: v\r\n\r\n", "bad header name 'Bad Name'"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size line 'zz'"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "a chunk is longer than its size says"),
        ("HTTP/1.1 101 Switching Protocols\r\n\r\n", "unexpected 101 Switching Protocols"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "the server closed the connection in the middle of the response"),
        ("", "the server closed the connection without a response"),
        ("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 70_000) + "\r\n\r\n", "the response head is too long"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "0", count: 2000) + "1\r\n", "a chunk size is too long"),
    ])
    func refuses(_ text: String, _ message: String) {
        for split in Self.splits {
            #expect(throws: HTTPParseError(message: message)) { _ = try Self.parse(text, pieces: split) }
        }
    }
}
