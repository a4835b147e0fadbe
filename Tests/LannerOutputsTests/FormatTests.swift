import Foundation
import Testing
import LannerCore
import LannerStore
@testable import LannerOutputs

@Suite struct FormatTests {
    @Test func textLineIsFalcosWithHostAndRule() {
        let a = alert(7, priority: .critical, rule: "Terminal shell in container", host: "web-1", output: "A shell was spawned (user=root shell=bash)")
        #expect(AlertText.line(a) == "2026-12-04T03:57:03.123456796Z: Critical A shell was spawned (user=root shell=bash) host=web-1 rule=\"Terminal shell in container\"")
        #expect(AlertText.render(a, as: .text) == AlertText.line(a))
    }

    @Test func countShowsWhenAggregated() {
        let a = alert(1, rule: "R", output: "x", count: 12)
        #expect(AlertText.line(a).hasSuffix(" host=web-1 rule=R count=12"))
    }

    @Test func controlCharactersCannotForgeLines() {
        let evil = "cat /tmp/a\n2026-12-04T00:00:00Z: Emergency fake\r\u{1b}[2J\u{85}\u{2028}end\ttab"
        let a = alert(1, rule: "r\"q\\", host: "h =x", output: evil)
        let line = AlertText.line(a)
        #expect(!line.contains("\n") && !line.contains("\r") && !line.contains("\u{1b}") && !line.contains("\u{85}") && !line.contains("\u{2028}"))
        #expect(line.hasSuffix(#": Warning cat /tmp/a\n2026-12-04T00:00:00Z: Emergency fake\r\x1b[2J\x85\u{2028}end\ttab host="h =x" rule="r\"q\\""#))
    }

    @Test func jsonIsTheStoredAlertsObjectExactly() {
        let a = alert(3, output: "weird \"quote\"\nline")
        #expect(AlertText.render(a, as: .json) == a.jsonObject())
        let o = jsonObject(AlertText.render(a, as: .json))
        #expect(o?["rule"] as? String == "Shell in container")
        #expect(o?["output"] as? String == "2026-12-04T03:57:03.123456792+0000: Warning weird \"quote\"\nline")
    }

    @Test func syslogRFC3164IsWhatGlibcWrites() {
        var c = SyslogOutputConfig()
        c.facility = .local0
        c.tag = "lanner"
        let a = alert(1, priority: .error, output: "x")
        // 2026-12-04T03:57:03Z in the local zone, the way glibc renders it.
        var t = time_t(1_796_356_623)
        var tmv = tm()
        localtime_r(&t, &tmv)
        var buf = [CChar](repeating: 0, count: 64)
        strftime(&buf, 64, "%h %e %T", &tmv)
        let stamp = String(decoding: buf.prefix { $0 != 0 }.map { UInt8($0) }, as: UTF8.self)
        let m = String(decoding: SyslogSink.message(a, config: c, pid: 4242, now: (1_796_356_623, 5)), as: UTF8.self)
        #expect(m == "<131>\(stamp) lanner[4242]: " + AlertText.line(a))   // local0 (16) * 8 + error (3)
    }

    @Test func syslogRFC5424CarriesTheAlertsHost() {
        var c = SyslogOutputConfig()
        c.protocol = .rfc5424
        c.format = .json
        let a = alert(2, priority: .debug, host: "db-2")
        let m = String(decoding: SyslogSink.message(a, config: c, pid: 7, now: (1_796_356_623, 123_456_789)), as: UTF8.self)
        #expect(m == "<15>1 2026-12-04T03:57:03.123456Z db-2 lanner 7 - - " + a.jsonObject())   // user (1) * 8 + debug (7)
        #expect(SyslogSink.headerField("has space", max: 255) == "-")
        #expect(SyslogSink.headerField("", max: 255) == "-")
        #expect(SyslogSink.headerField("héllo", max: 255) == "-")
    }

    @Test func countersDescribeThemselves() {
        var c = OutputCounters(name: "webhook", target: "https://siem:443/lanner", queueCapacity: 10_000)
        c.delivered = 120
        c.failedAttempts = 3
        #expect(c.description == "webhook https://siem:443/lanner: delivered 120, failed attempts 3, gave up 0, dropped 0, queued 0/10000")
    }
}
