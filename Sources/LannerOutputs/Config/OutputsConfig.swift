import LannerCore

/// What every output takes besides its own settings: whether it runs, which alerts it gets, how many it may
/// hold and how it retries.
public struct DeliverySettings: Sendable, Equatable {
    /// False keeps the section but runs nothing. A section that is present is enabled unless it says otherwise.
    public var enabled: Bool = true
    /// Only alerts at least this severe go to the output.
    public var minPriority: Priority = .debug
    /// Alerts the output may hold, waiting or being delivered. When full, further alerts are dropped and
    /// counted (`OutputCounters.dropped`); ingest never waits for an output.
    public var queueSize: Int = 10_000
    /// Further attempts after a failed delivery of one alert (0: one attempt only).
    public var retries: Int = 3
    /// Wait before the first retry; it doubles with every further retry.
    public var backoff: Duration = .seconds(1)
    /// The longest wait between retries.
    public var maxBackoff: Duration = .seconds(30)

    public init() {}

    /// What is wrong with settings made in code, if anything (the file reader refuses the same).
    var problem: String? {
        if !(1...10_000_000).contains(queueSize) { return "queue_size must be from 1 to 10000000, not \(queueSize)" }
        if !(0...1000).contains(retries) { return "retries must be from 0 to 1000, not \(retries)" }
        if backoff < .zero || maxBackoff < .zero { return "backoff and max_backoff must not be negative" }
        return nil
    }

    /// The wait before retry number `retry` (1-based): `backoff · 2^(retry-1)`, at most `maxBackoff`.
    public func delay(beforeRetry retry: Int) -> Duration {
        var d = backoff
        var i = 1
        while i < retry && d < maxBackoff {
            d = d * 2
            i += 1
        }
        return min(d, maxBackoff)
    }
}

/// Alerts to the collector's standard output.
public struct StdoutOutputConfig: Sendable, Equatable {
    public var delivery = DeliverySettings()
    public var format: AlertFormat = .text
    public init() {}
}

/// Alerts appended to a file, one per line (JSON lines by default). The file is created 0600 if missing;
/// it is reopened when `OutputHub.reopen()` is called (SIGHUP) and whenever the path no longer names the
/// open file (renamed or deleted by log rotation).
public struct FileOutputConfig: Sendable, Equatable {
    public var delivery = DeliverySettings()
    public var path: String = "/var/log/lanner/alerts.jsonl"
    public var format: AlertFormat = .json
    public init() {}
}

/// syslog facilities by name (RFC 5424 numbering).
public enum SyslogFacility: Int, Sendable, Equatable, CaseIterable {
    case kern = 0, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp
    case local0 = 16, local1, local2, local3, local4, local5, local6, local7

    /// Every name, for error messages.
    public static let names = allCases.map(\.name)

    public var name: String { String(describing: self) }

    public init?(name: String) {
        guard let f = Self.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = f
    }
}

/// The message framing a syslog output writes.
public enum SyslogProtocol: String, Sendable, Equatable, CaseIterable {
    /// What glibc's syslog(3) writes to /dev/log: `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG` (local time). Every
    /// local syslog daemon (systemd-journald, rsyslog, syslog-ng, busybox) parses it.
    case rfc3164
    /// RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - MSG`, with the alert's host as HOSTNAME.
    /// For daemons configured to parse it (rsyslog, syslog-ng).
    case rfc5424
}

/// Alerts sent as syslog datagrams to a local socket (`/dev/log`), written directly rather than through
/// glibc's syslog(3) (process-global tag and facility, no way to point it elsewhere, blocking socket).
/// The severity is the alert's priority (Falco's priorities are the syslog severities).
public struct SyslogOutputConfig: Sendable, Equatable {
    public var delivery = DeliverySettings()
    public var facility: SyslogFacility = .user
    /// The program name in each message (syslog's TAG / APP-NAME): 1–48 printable ASCII characters, no spaces.
    public var tag: String = "lanner"
    public var format: AlertFormat = .text
    /// The AF_UNIX datagram socket to send to.
    public var socket: String = "/dev/log"
    public var `protocol`: SyslogProtocol = .rfc3164
    public init() {}
}

/// Alerts piped to a shell command (`/bin/sh -c`), one line each on its stdin.
public struct ProgramOutputConfig: Sendable, Equatable {
    public var delivery = DeliverySettings()
    /// The shell command. Required.
    public var command: String = ""
    /// True: one long-lived process reads every alert, restarted (with backoff) when it exits. False: one
    /// process per alert, which must exit 0 within `timeout`.
    public var keepAlive: Bool = true
    public var format: AlertFormat = .json
    /// Per-alert mode: how long one process may take before it is killed and the attempt counted as failed.
    public var timeout: Duration = .seconds(10)
    public init() {}
}

/// One extra request header.
public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Alerts POSTed one per request as JSON (`StoredAlert.jsonObject()`) to an HTTP or HTTPS endpoint.
/// Success is a 2xx status. 5xx, 408, 429 and transport errors are retried (`Retry-After` honoured up to
/// `max_backoff`); other statuses are not (the request itself is wrong). Redirects are not followed.
public struct WebhookOutputConfig: Sendable, Equatable {
    public var delivery = DeliverySettings()
    /// The endpoint. Required.
    public var url: HTTPURL?
    /// Extra headers, in order (e.g. Authorization). They may replace User-Agent and Content-Type; Host,
    /// Content-Length, Transfer-Encoding and Connection are the client's.
    public var headers: [HTTPHeader] = []
    /// Limit for one attempt: connecting, TLS, sending and the whole response.
    public var timeout: Duration = .seconds(5)
    /// PEM file of the CA certificates to trust for https instead of the system store (`/etc/ssl/certs`).
    public var caFile: String?
    public init() {}
}

/// The `outputs:` section: one optional entry per kind; nil where the section is absent.
public struct OutputsConfig: Sendable, Equatable {
    public var stdout: StdoutOutputConfig?
    public var file: FileOutputConfig?
    public var syslog: SyslogOutputConfig?
    public var program: ProgramOutputConfig?
    public var webhook: WebhookOutputConfig?
    public init() {}

    /// Names of the outputs that will run.
    public var enabledNames: [String] {
        var n: [String] = []
        if stdout?.delivery.enabled == true { n.append("stdout") }
        if file?.delivery.enabled == true { n.append("file") }
        if syslog?.delivery.enabled == true { n.append("syslog") }
        if program?.delivery.enabled == true { n.append("program") }
        if webhook?.delivery.enabled == true { n.append("webhook") }
        return n
    }
}
