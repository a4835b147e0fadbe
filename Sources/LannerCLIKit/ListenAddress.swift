/// Where a server listens: `HOST:PORT`, or `[IPv6]:PORT` (the brackets are not part of `host`). Port 0 asks
/// for any free port. The one spelling `--listen`, `--metrics-listen` and the configuration file's `listen` and
/// `metrics_listen` share.
///
/// ```swift
/// let a = try ListenAddress(parsing: "[::1]:7601")   // host "::1", port 7601
/// let b = try ListenAddress(option: "listen", value: "0.0.0.0:7601")
/// ```
public struct ListenAddress: Sendable, Equatable {
    /// A name or numeric address, without brackets.
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Why a text is not a listen address.
    public enum Problem: Error, Sendable, Equatable {
        /// No `:PORT` after the last colon, the port is not a number from 0 to 65535 in plain digits, or the host
        /// has a stray bracket or a space (`[::1:7601`).
        case notHostPort
        /// Nothing before the colon (or only `[]`).
        case noHost

        /// The words that follow the quoted value in a message.
        public var reason: String {
            switch self {
            case .notHostPort: return "is not HOST:PORT"
            case .noHost: return "has no host (use 0.0.0.0:PORT for every address)"
            }
        }
    }

    /// Parses `HOST:PORT` or `[IPv6]:PORT`; the port follows the last colon, so an unbracketed IPv6 address
    /// also parses (`::1:7601` is host `::1`).
    /// - Throws: `Problem`.
    public init(parsing text: String) throws(Problem) {
        guard let colon = text.lastIndex(of: ":") else { throw .notHostPort }
        let digits = text[text.index(after: colon)...]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(digits) else {
            throw .notHostPort
        }
        var host = text[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }   // [::1]:7601
        guard !host.isEmpty else { throw .noHost }
        guard !host.contains(where: { $0 == "[" || $0 == "]" || $0.isWhitespace }) else { throw .notHostPort }
        self.init(host: String(host), port: port)
    }

    /// Parses the value of the option `--option`.
    /// - Throws: `CLIError.badValue` naming the option and saying what is wrong.
    public init(option: String, value: String) throws(CLIError) {
        do { try self.init(parsing: value) } catch {
            throw .badValue(option: option, value: value, reason: error.reason)
        }
    }
}
