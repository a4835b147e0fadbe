import Foundation
import Testing
import LannerCore
import LannerStore
@testable import LannerOutputs

@Suite struct SyslogOutputTests {
    func config(_ socket: String, _ body: (inout SyslogOutputConfig) -> Void = { _ in }) -> OutputsConfig {
        var o = OutputsConfig()
        var s = SyslogOutputConfig()
        s.socket = socket
        body(&s)
        o.syslog = s
        return o
    }

    @Test func sendsOneDatagramPerAlert() throws {
        let dir = try TempDir()
        let receiver = try SyslogReceiver(dir: dir)
        let hub = try OutputHub(config: config(receiver.path) { $0.facility = .authpriv; $0.tag = "lanner-t" }, log: { _ in })
        let alerts = [alert(1, priority: .emergency), alert(2, priority: .warning, output: "two\nlines"), alert(3, priority: .debug)]
        hub.publish(alerts)
        let pid = getpid()
        for a in alerts {
            let m = try #require(receiver.receive())
            let pri = 10 * 8 + a.priority.rawValue
            #expect(m.hasPrefix("<\(pri)>"))
            #expect(m.hasSuffix(" lanner-t[\(pid)]: " + AlertText.line(a)))
            #expect(!m.contains("\n"))
        }
        #expect(hub.stop(timeout: .seconds(5))[0].delivered == 3)
    }

    @Test func rfc5424AndJSON() throws {
        let dir = try TempDir()
        let receiver = try SyslogReceiver(dir: dir)
        let hub = try OutputHub(config: config(receiver.path) { $0.protocol = .rfc5424; $0.format = .json }, log: { _ in })
        hub.publish([alert(9, priority: .notice, host: "db-2")])
        let m = try #require(receiver.receive())
        let prefix = "<13>1 "
        #expect(m.hasPrefix(prefix))
        let fields = m.dropFirst(prefix.count).split(separator: " ", maxSplits: 6)
        #expect(fields.count == 7)
        #expect(fields[0].count == "2026-12-04T03:57:03.123456Z".count && fields[0].hasSuffix("Z"))
        #expect(Array(fields[1...5]) == ["db-2", "lanner", Substring(String(getpid())), "-", "-"])
        #expect(String(fields[6]) == alert(9, priority: .notice, host: "db-2").jsonObject())
        hub.stop(timeout: .seconds(5))
    }

    /// No daemon at the socket: attempts fail with a clear reason and are retried; once a daemon appears the
    /// next alerts arrive (the sink reconnects).
    @Test func missingDaemonThenReconnect() throws {
        let dir = try TempDir()
        let path = dir.file("log.sock")
        let hub = try OutputHub(config: config(path) { $0.delivery.retries = 1; $0.delivery.backoff = .milliseconds(1) }, log: { _ in })
        hub.publish([alert(1)])
        #expect(waitUntil { hub.counters[0].gaveUp == 1 })
        #expect(hub.counters[0].failedAttempts == 2)
        #expect(hub.counters[0].lastError == "cannot connect to syslog socket '\(path)': No such file or directory (is a syslog daemon running?)")
        let receiver = try SyslogReceiver(dir: dir)
        hub.publish([alert(2)])
        let m = try #require(receiver.receive())
        #expect(m.hasSuffix(AlertText.line(alert(2))))
        let c = hub.stop(timeout: .seconds(5))[0]
        #expect(c.delivered == 1 && c.gaveUp == 1 && c.accepted == 2)
    }

    /// The daemon restarts (its socket is replaced): the old connection is refused, the sink reconnects and
    /// the retried alert arrives.
    @Test func daemonRestart() throws {
        let dir = try TempDir()
        var receiver: SyslogReceiver? = try SyslogReceiver(dir: dir)
        let path = receiver!.path
        let hub = try OutputHub(config: config(path) { $0.delivery.backoff = .milliseconds(20) }, log: { _ in })
        hub.publish([alert(1)])
        #expect(receiver!.receive() != nil)
        receiver = nil
        unlink(path)
        receiver = try SyslogReceiver(dir: dir)
        hub.publish([alert(2)])
        let m = try #require(receiver!.receive())
        #expect(m.hasSuffix(AlertText.line(alert(2))))
        let c = hub.stop(timeout: .seconds(5))[0]
        #expect(c.delivered == 2 && c.gaveUp == 0 && c.failedAttempts == 1)
    }
}
