import Glibc

/// An `http://` or `https://` URL, checked and split into what an HTTP/1.1 client needs.
///
/// Accepted: `scheme://host[:port][/path][?query][#fragment]` where host is a DNS name, an IPv4 address or a
/// bracketed IPv6 address. Refused: user info (`user:pass@`; send credentials in a header), other schemes,
/// empty hosts, ports outside 1–65535, spaces, control and non-ASCII characters (percent-encode them).
/// The fragment is dropped (it is never sent).
public struct HTTPURL: Sendable, Equatable, CustomStringConvertible {
    /// True for `https://`.
    public var isHTTPS: Bool
    /// The host without brackets: `example.com`, `10.0.0.1`, `::1`.
    public var host: String
    public var port: UInt16
    /// Path and query as sent in the request line: `/hook?x=1` (at least `/`).
    public var target: String

    /// Why a string is not an acceptable URL.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses and checks `string`.
    /// - Throws: `ParseError` saying what is wrong.
    public init(_ string: String) throws(ParseError) {
        func fail(_ why: String) -> ParseError { ParseError(message: why) }
        let lower = string.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            isHTTPS = true
            rest = string.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            isHTTPS = false
            rest = string.dropFirst(7)
        } else {
            throw fail("the scheme must be http:// or https://")
        }
        if let bad = string.unicodeScalars.first(where: { $0.value <= 0x20 || $0.value >= 0x7F }) {
            throw fail(bad == " " ? "it contains a space; percent-encode it as %20"
                       : "it contains the character U+\(String(bad.value, radix: 16, uppercase: true)); percent-encode it")
        }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        if authority.contains("@") {
            throw fail("credentials in the URL are not supported; send them in a header (headers: {Authorization: ...})")
        }
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw fail("the IPv6 address has no closing ']'") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            var a = in6_addr()
            guard inet_pton(AF_INET6, host, &a) == 1 else { throw fail("'\(host)' is not an IPv6 address") }
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected '\(after)' after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                host = String(authority[..<colon])
                portText = authority[authority.index(after: colon)...]
            } else {
                host = String(authority)
            }
            guard !host.isEmpty else { throw fail("it has no host") }
            guard host.utf8.count <= 253 else { throw fail("the host name is longer than 253 characters") }
            if let bad = host.unicodeScalars.first(where: { !(("0"..."9").contains($0) || ("a"..."z").contains($0)
                                                              || ("A"..."Z").contains($0) || $0 == "-" || $0 == "." || $0 == "_") }) {
                throw fail("the host has the character '\(bad)'; a host is a DNS name, an IPv4 address or [IPv6]")
            }
        }
        if let portText {
            guard !portText.isEmpty, portText.allSatisfy(\.isASCIIDigit), let p = Int(portText), (1...65535).contains(p) else {
                throw fail("the port '\(portText)' is not a number from 1 to 65535")
            }
            port = UInt16(p)
        } else {
            port = isHTTPS ? 443 : 80
        }
        var pathAndQuery = rest[authorityEnd...]
        if let hash = pathAndQuery.firstIndex(of: "#") { pathAndQuery = pathAndQuery[..<hash] }
        target = pathAndQuery.isEmpty ? "/" : pathAndQuery.hasPrefix("?") ? "/" + pathAndQuery : String(pathAndQuery)
    }

    /// True when `host` is an IPv4 or IPv6 address rather than a name.
    public var hostIsAddress: Bool {
        var a4 = in_addr(), a6 = in6_addr()
        return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1
    }

    /// The `Host` header's value: brackets around IPv6, the port only when it is not the scheme's default.
    public var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == (isHTTPS ? 443 : 80) ? h : "\(h):\(port)"
    }

    /// `scheme://host:port`, for messages.
    public var origin: String {
        (isHTTPS ? "https://" : "http://") + (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }

    /// The URL without its query (which may carry secrets), for logs and counters.
    public var description: String {
        let path = target.firstIndex(of: "?").map { String(target[..<$0]) } ?? target
        return origin + path
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
