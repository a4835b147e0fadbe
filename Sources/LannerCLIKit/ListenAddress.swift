import LannerCore

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
    public typealias Problem = HostPort.Problem

    /// Parses `HOST:PORT` or `[IPv6]:PORT`; the port follows the last colon, so an unbracketed IPv6 address
    /// also parses (`::1:7601` is host `::1`).
    /// - Throws: `Problem`.
    public init(parsing text: String) throws(Problem) {
        let (host, port) = try HostPort.split(Substring(text))
        self.init(host: host, port: port)
    }

    /// Parses the value of the option `--option`.
    /// - Throws: `CLIError.badValue` naming the option and saying what is wrong.
    public init(option: String, value: String) throws(CLIError) {
        do { try self.init(parsing: value) } catch {
            throw .badValue(option: option, value: value, reason: error.reason)
        }
    }
}

extension HostPort.Problem {
    /// The words that follow the quoted value in a message.
    public var reason: String {
        switch self {
        case .notHostPort: return "is not HOST:PORT"
        case .noHost: return "has no host (use 0.0.0.0:PORT for every address)"
        }
    }
}
