import LannerCore

/// A collector's h2c address: `http://HOST:PORT`, as sensors ship to and `--collector` queries (TLS is not in
/// this version). `[IPv6]` brackets are allowed and are not part of `host`; a path after the port is ignored.
///
/// ```swift
/// let e = CollectorEndpoint(url: "http://[::1]:7601/v1/alerts")   // host "::1", port 7601
/// let client = try H2Client(host: e!.host, port: e!.port)
/// ```
public struct CollectorEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    /// Parses `http://HOST:PORT[/PATH]`; nil for another scheme, a missing host, a port that is not 1…65535 in
    /// plain digits (`+7601` is not), a bracket anywhere but around the whole host, or user information
    /// (`user:pass@host`: the collector takes a bearer token, and the `@` would otherwise end up in the host name).
    public init?(url: String) {
        guard url.hasPrefix("http://") else { return nil }
        var rest = Substring(url.dropFirst(7))
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        guard let (h, port) = try? HostPort.split(rest), port > 0 else { return nil }
        host = h
        self.port = port
    }

    /// The URL again, with brackets around an IPv6 host.
    public var description: String { host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)" }
}
