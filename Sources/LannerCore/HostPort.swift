/// The `HOST:PORT` / `[IPv6]:PORT` spelling that listen addresses (`ListenAddress`) and collector URLs
/// (`CollectorEndpoint`) share: the port follows the last colon in plain digits, brackets may wrap the whole host
/// and are not part of it, and a host holds no bracket, `@` or whitespace otherwise.
public enum HostPort {
    public enum Problem: Error, Sendable, Equatable {
        /// No `:PORT`, a port that is not 0…65535 in plain digits, or a stray bracket, `@` or space in the host.
        case notHostPort
        /// Nothing before the colon (or only `[]`).
        case noHost
    }

    /// Splits `text` into host (brackets removed) and port.
    public static func split(_ text: Substring) throws(Problem) -> (host: String, port: UInt16) {
        guard let colon = text.lastIndex(of: ":") else { throw .notHostPort }
        let digits = text[text.index(after: colon)...]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(digits) else {
            throw .notHostPort
        }
        var host = text[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }   // [::1]:7601
        guard !host.isEmpty else { throw .noHost }
        guard !host.contains(where: { $0 == "[" || $0 == "]" || $0 == "@" || $0.isWhitespace }) else { throw .notHostPort }
        return (String(host), port)
    }
}
