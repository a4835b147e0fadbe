import Glibc
import LannerStore

/// Alerts as syslog messages, one datagram each, sent to a local AF_UNIX datagram socket (`/dev/log`).
///
/// Written directly instead of through glibc's syslog(3): that keeps one process-wide tag and facility, cannot
/// be pointed at another socket, and blocks the calling thread when the daemon is slow. The socket is
/// non-blocking; when the daemon's queue is full the sink waits (cancellably) for room, so a stuck daemon
/// holds up only this output. A daemon restart (connection refused, socket gone) is followed by a reconnect on
/// the next attempt.
final class SyslogSink: AlertSink {
    let config: SyslogOutputConfig
    private var fd: Int32 = -1
    private let pid = getpid()

    init(config: SyslogOutputConfig) { self.config = config }

    deinit { disconnect() }

    private func disconnect() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Connects to the socket; nil on success, else why not.
    private func connect() -> String? {
        let s = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard s >= 0 else { return "socket: \(errnoText(errno))" }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = Array(config.socket.utf8)
        guard path.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(s)
            return "socket path '\(config.socket)' is too long"
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: path)
            raw[path.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(s)
            return "cannot connect to syslog socket '\(config.socket)': \(errnoText(e))"
                + (e == ENOENT || e == ECONNREFUSED ? " (is a syslog daemon running?)" : "")
                + (e == EPROTOTYPE ? " (it is not a datagram socket)" : "")
        }
        fd = s
        return nil
    }

    func deliver(_ alert: StoredAlert, attempt: Int, cancel: Canceller) -> DeliveryOutcome {
        if fd < 0, let e = connect() { return .failed(DeliveryFailure(message: e)) }
        let message = Self.message(alert, config: config, pid: pid, now: Self.realtimeNow())
        return message.withUnsafeBytes { raw -> DeliveryOutcome in
            while true {
                let n = send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
                if n >= 0 { return .delivered }
                let e = errno
                switch e {
                case EINTR:
                    continue
                case EAGAIN, EWOULDBLOCK, ENOBUFS:
                    switch cancel.wait(fd: fd, events: Int16(POLLOUT), until: .never) {
                    case .cancelled: return .cancelled
                    case .ready, .timedOut: continue
                    }
                case EMSGSIZE:
                    return .failed(DeliveryFailure(message: "the message (\(raw.count) bytes) is larger than syslog socket '\(config.socket)' takes",
                                                   retryable: false))
                default:
                    disconnect()
                    return .failed(DeliveryFailure(message: "send to syslog socket '\(config.socket)': \(errnoText(e))"))
                }
            }
        }
    }

    func close(deadline: Deadline, cancel: Canceller) { disconnect() }

    static func realtimeNow() -> (seconds: Int, nanoseconds: Int) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (ts.tv_sec, ts.tv_nsec)
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The datagram for `alert`: header per `config.protocol`, then the alert as text or JSON.
    static func message(_ alert: StoredAlert, config: SyslogOutputConfig, pid: pid_t,
                        now: (seconds: Int, nanoseconds: Int)) -> [UInt8] {
        let pri = config.facility.rawValue * 8 + alert.priority.rawValue
        var s = "<\(pri)>"
        switch config.protocol {
        case .rfc3164:
            // glibc syslog(3): "<PRI>%h %e %T TAG[PID]: " in local time.
            var t = time_t(now.seconds)
            var tmv = tm()
            localtime_r(&t, &tmv)
            s += months[Int(tmv.tm_mon) % 12] + " "
            s += (tmv.tm_mday < 10 ? " " : "") + String(tmv.tm_mday) + " "
            s += two(tmv.tm_hour) + ":" + two(tmv.tm_min) + ":" + two(tmv.tm_sec) + " "
            s += "\(config.tag)[\(pid)]: "
        case .rfc5424:
            // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG; microseconds, UTC.
            let stamp = StoredAlert.rfc3339(nanoseconds: Int64(now.seconds) * 1_000_000_000 + Int64(now.nanoseconds))
            s += "1 " + stamp.dropLast(4) + "Z "   // drop 3 of the 9 fractional digits and the Z
            s += headerField(alert.host, max: 255) + " " + config.tag + " \(pid) - - "
        }
        s += AlertText.render(alert, as: config.format)
        return Array(s.utf8)
    }

    private static func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : String(v) }

    /// An RFC 5424 header field: printable ASCII without spaces, at most `max` characters; "-" when empty or
    /// when it holds anything else.
    static func headerField(_ s: String, max: Int) -> String {
        guard !s.isEmpty, s.utf8.count <= max, s.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return "-" }
        return s
    }
}
