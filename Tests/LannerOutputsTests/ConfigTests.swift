import Foundation
import Testing
import LannerCore
@testable import LannerOutputs

/// One bad configuration and the problem it must produce.
struct BadConfig: CustomTestStringConvertible, Sendable {
    let yaml: String
    /// `line:column: message` expected as the (first) problem.
    let expected: String
    var testDescription: String { expected }
    init(_ yaml: String, _ expected: String) {
        self.yaml = yaml
        self.expected = expected
    }
}

@Suite struct ConfigTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static let badConfigs: [BadConfig] = [
        BadConfig("lisen: 0.0.0.0:7601\n",
                  "1:1: unknown key 'lisen' in the top level; valid keys: listen, db, rules, token_file, rule_matching, min_priority, metrics_listen, resolve_names, watch_rules, aggregation, retention, outputs"),
        BadConfig("outputs:\n  stdout:\n    formt: json\n",
                  "3:5: unknown key 'formt' in outputs.stdout; valid keys: enabled, min_priority, queue_size, retries, backoff, max_backoff, format"),
        BadConfig("outputs:\n  kafka: {}\n", "2:3: unknown key 'kafka' in outputs; valid keys: stdout, file, syslog, program, webhook"),
        BadConfig("outputs:\n  webhook:\n    url: http://x/\n    user_agent: me\n",
                  "4:5: unknown key 'user_agent' in outputs.webhook; valid keys: enabled, min_priority, queue_size, retries, backoff, max_backoff, url, headers, timeout, ca_file"),
        BadConfig("aggregation:\n  windows: 5s\n", "2:3: unknown key 'windows' in aggregation; valid keys: window"),
        BadConfig("retention:\n  max_size: 5\n", "2:3: unknown key 'max_size' in retention; valid keys: max_age, max_rows"),
        BadConfig("- listen\n", "1:1: the file must be a mapping of settings (key: value), not a sequence"),
        BadConfig("listen: a:1\nlisten: b:2\n", "2:1: duplicate key 'listen' in the top level (first at 1:1)"),
        BadConfig("rules: rules/\n", "1:8: rules: must be a list of paths (e.g. [rules/, /etc/falco/falco_rules.yaml]), not a scalar"),
        BadConfig("rules: [a, {b: c}]\n", "1:12: rules[1]: must be a string, not a mapping"),
        BadConfig("rules: [\"\"]\n", "1:9: rules[0]: the path is empty"),
        BadConfig("db: [a]\n", "1:5: db: must be a string, not a sequence"),
        BadConfig("token_file: {a: 1}\n", "1:13: token_file: must be a string, not a mapping"),
        BadConfig("listen: localhost\n", "1:9: listen: 'localhost' is not HOST:PORT (e.g. 0.0.0.0:7601 or [::]:7601)"),
        BadConfig("listen: \"host:99999\"\n", "1:9: listen: 'host:99999' is not HOST:PORT (e.g. 0.0.0.0:7601 or [::]:7601)"),
        BadConfig("listen: \":7601\"\n", "1:9: listen: ':7601' has no host (use 0.0.0.0:PORT for every address)"),
        BadConfig("rule_matching: most\n", "1:16: rule_matching: 'most' is not one of all, first"),
        BadConfig("resolve_names: maybe\n", "1:16: resolve_names: must be true or false, not 'maybe'"),
        BadConfig("watch_rules: often\n", "1:14: watch_rules: must be true or false, not 'often'"),
        BadConfig("min_priority: urgent\n",
                  "1:15: min_priority: 'urgent' is not a priority; use one of emergency, alert, critical, error, warning, notice, informational (info), debug"),
        BadConfig("aggregation:\n  window: soon\n",
                  "2:11: aggregation.window: must be a duration such as 5s, 500ms, 2m, 1h or 30d (at most 100 years), not 'soon'"),
        BadConfig("aggregation:\n  window: -5s\n",
                  "2:11: aggregation.window: must be a duration such as 5s, 500ms, 2m, 1h or 30d (at most 100 years), not '-5s'"),
        BadConfig("retention:\n  max_age: 200y\n",
                  "2:12: retention.max_age: must be a duration such as 5s, 500ms, 2m, 1h or 30d (at most 100 years), not '200y'"),
        BadConfig("retention:\n  max_age: 40000d\n",
                  "2:12: retention.max_age: must be a duration such as 5s, 500ms, 2m, 1h or 30d (at most 100 years), not '40000d'"),
        BadConfig("retention:\n  max_rows: -5\n", "2:13: retention.max_rows: must be a whole number from 0, not '-5'"),
        BadConfig("retention:\n  max_rows: [1]\n", "2:13: retention.max_rows: must be a whole number from 0, not a sequence"),
        BadConfig("aggregation: 10s\n", "1:14: aggregation: must be a mapping, not a scalar"),
        BadConfig("outputs: [stdout]\n", "1:10: outputs: must be a mapping, not a sequence"),
        BadConfig("outputs:\n  stdout: text\n", "2:11: outputs.stdout: must be a mapping, not a scalar"),
        BadConfig("outputs:\n  stdout:\n    enabled: maybe\n", "3:14: outputs.stdout.enabled: must be true or false, not 'maybe'"),
        BadConfig("outputs:\n  stdout:\n    enabled: [true]\n", "3:14: outputs.stdout.enabled: must be true or false, not a sequence"),
        BadConfig("outputs:\n  stdout:\n    min_priority: loud\n",
                  "3:19: outputs.stdout.min_priority: 'loud' is not a priority; use one of emergency, alert, critical, error, warning, notice, informational (info), debug"),
        BadConfig("outputs:\n  stdout:\n    format: xml\n", "3:13: outputs.stdout.format: 'xml' is not one of text, json"),
        BadConfig("outputs:\n  stdout:\n    queue_size: 0\n", "3:17: outputs.stdout.queue_size: must be a whole number from 1 to 10000000, not '0'"),
        BadConfig("outputs:\n  stdout:\n    queue_size: lots\n", "3:17: outputs.stdout.queue_size: must be a whole number from 1 to 10000000, not 'lots'"),
        BadConfig("outputs:\n  file:\n    retries: 1001\n", "3:14: outputs.file.retries: must be a whole number from 0 to 1000, not '1001'"),
        BadConfig("outputs:\n  file:\n    backoff: 1 second\n",
                  "3:14: outputs.file.backoff: must be a duration such as 5s, 500ms, 2m, 1h or 30d (at most 100 years), not '1 second'"),
        BadConfig("outputs:\n  file:\n    backoff: 5s\n    max_backoff: 1s\n",
                  "4:18: outputs.file.max_backoff (1s) is shorter than outputs.file.backoff (5s)"),
        BadConfig("outputs:\n  file:\n    path: [a]\n", "3:11: outputs.file.path: must be a string, not a sequence"),
        BadConfig("outputs:\n  file:\n    path: \"a\\0b\"\n", "3:11: outputs.file.path: the path contains a NUL character"),
        BadConfig("outputs:\n  syslog:\n    facility: local9\n",
                  "3:15: outputs.syslog.facility: 'local9' is not one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0, local1, local2, local3, local4, local5, local6, local7"),
        BadConfig("outputs:\n  syslog:\n    tag: my tag\n",
                  "3:10: outputs.syslog.tag: must be 1 to 48 printable ASCII characters without spaces, not 'my tag'"),
        BadConfig("outputs:\n  syslog:\n    protocol: rfc1\n", "3:15: outputs.syslog.protocol: 'rfc1' is not one of rfc3164, rfc5424"),
        BadConfig("outputs:\n  syslog:\n    socket: /\(String(repeating: "s", count: 120))\n",
                  "3:13: outputs.syslog.socket: a socket path holds at most 107 bytes; this one has 121"),
        BadConfig("outputs:\n  program:\n    keep_alive: true\n",
                  "2:3: outputs.program: 'command' is required (the shell command that reads alerts on its stdin)"),
        BadConfig("outputs:\n  program:\n    command: \"  \"\n",
                  "3:14: outputs.program.command: is empty; give the shell command that reads alerts on its stdin"),
        BadConfig("outputs:\n  program:\n    command: cat\n    keep_alive: sometimes\n",
                  "4:17: outputs.program.keep_alive: must be true or false, not 'sometimes'"),
        BadConfig("outputs:\n  program:\n    command: cat\n    timeout: 0s\n", "4:14: outputs.program.timeout: must be longer than 0"),
        BadConfig("outputs:\n  webhook:\n    timeout: 5s\n", "2:3: outputs.webhook: 'url' is required (http://… or https://…)"),
        BadConfig("outputs:\n  webhook:\n    url: ftp://example.com/\n",
                  "3:10: outputs.webhook.url: bad URL 'ftp://example.com/': the scheme must be http:// or https://"),
        BadConfig("outputs:\n  webhook:\n    url: https://user:pw@example.com/\n",
                  "3:10: outputs.webhook.url: bad URL 'https://user:pw@example.com/': credentials in the URL are not supported; send them in a header (headers: {Authorization: ...})"),
        BadConfig("outputs:\n  webhook:\n    url: http://example.com:70000/\n",
                  "3:10: outputs.webhook.url: bad URL 'http://example.com:70000/': the port '70000' is not a number from 1 to 65535"),
        BadConfig("outputs:\n  webhook:\n    url: \"http:///x\"\n",
                  "3:10: outputs.webhook.url: bad URL 'http:///x': it has no host"),
        BadConfig("outputs:\n  webhook:\n    url: \"http://exa mple.com/\"\n",
                  "3:10: outputs.webhook.url: bad URL 'http://exa mple.com/': it contains a space; percent-encode it as %20"),
        BadConfig("outputs:\n  webhook:\n    url: \"http://[::1/\"\n",
                  "3:10: outputs.webhook.url: bad URL 'http://[::1/': the IPv6 address has no closing ']'"),
        BadConfig("outputs:\n  webhook:\n    url: \"http://[fe::zz]/\"\n",
                  "3:10: outputs.webhook.url: bad URL 'http://[fe::zz]/': 'fe::zz' is not an IPv6 address"),
        BadConfig("outputs:\n  webhook:\n    url: \"http://ex!ample.com/\"\n",
                  "3:10: outputs.webhook.url: bad URL 'http://ex!ample.com/': the host has the character '!'; a host is a DNS name, an IPv4 address or [IPv6]"),
        BadConfig("outputs:\n  webhook:\n    url: http://x/\n    headers: [a]\n",
                  "4:14: outputs.webhook.headers: must be a mapping of header names to values (e.g. {Authorization: Bearer …}), not a sequence"),
        BadConfig("outputs:\n  webhook:\n    url: http://x/\n    headers:\n      Bad Name: x\n",
                  "5:7: outputs.webhook.headers: 'Bad Name' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)"),
        BadConfig("outputs:\n  webhook:\n    url: http://x/\n    headers:\n      Host: evil\n",
                  "5:7: outputs.webhook.headers: 'Host' is set by the client and cannot be configured"),
        BadConfig("outputs:\n  webhook:\n    url: http://x/\n    headers:\n      X-A: \"one\\r\\nX-B: two\"\n",
                  "5:12: outputs.webhook.headers.X-A: the value must not contain line breaks or control characters"),
        BadConfig("outputs:\n  webhook:\n    url: http://x/\n    headers:\n      X-A: [1]\n",
                  "5:12: outputs.webhook.headers.X-A: must be a string, not a sequence"),
        BadConfig("outputs:\n  webhook:\n    url: http://x/\n    headers:\n      X-A: a\n      x-a: b\n",
                  "6:7: outputs.webhook.headers: duplicate header 'x-a' (first at 5:7)"),
        BadConfig("outputs:\n  webhook:\n    url: http://x/\n    ca_file: \"\"\n", "4:14: outputs.webhook.ca_file: the path is empty"),
        BadConfig("listen: [\n", "2:1: did not find expected node content (while parsing a flow node)"),
        BadConfig("listen: a:1\n---\ndb: x\n", "3:1: the file holds more than one YAML document; put every setting in one"),
    ]

    @Test(arguments: badConfigs)
    func refusesWithPosition(_ c: BadConfig) {
        do {
            _ = try CollectorFileConfig.parse(c.yaml, path: "lanner.yaml")
            Issue.record("accepted: \(c.yaml)")
        } catch {
            #expect(error.problems.first?.description == "lanner.yaml:" + c.expected)
        }
    }

    @Test func collectsEveryProblemAtOnce() {
        let yaml = """
        listen: nowhere
        min_priority: loud
        outputs:
          file:
            path: [x]
          webhook:
            url: gopher://x
          bogus: 1
        """
        do {
            _ = try CollectorFileConfig.parse(yaml, path: "c.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.problems.map { "\($0.line):\($0.column)" } == ["1:9", "2:15", "5:11", "7:10", "8:3"])
            #expect(error.description.split(separator: "\n").count == 5)
            #expect(error.description.hasPrefix("c.yaml:1:9: listen: 'nowhere' is not HOST:PORT"))
        }
    }

    @Test func notUTF8IsLocated() {
        var bytes = Array("listen: a:1\ndb: caf".utf8)
        bytes += [0xC3, 0x28]
        do {
            _ = try CollectorFileConfig.parse(bytes: bytes, path: "c.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.description == "c.yaml:2:8: the file is not UTF-8 text (bad byte here)")
        }
    }

    @Test func unreadableFileNamesItself() throws {
        let dir = try TempDir()
        do {
            _ = try CollectorFileConfig.load(path: dir.file("missing.yaml"))
            Issue.record("accepted")
        } catch {
            #expect(error.description == dir.file("missing.yaml") + ": cannot read the configuration file: No such file or directory")
        }
        do {
            _ = try CollectorFileConfig.load(path: dir.path)
            Issue.record("accepted")
        } catch {
            #expect(error.description == dir.path + ": is a directory, not a configuration file")
        }
        let big = dir.file("big.yaml")
        try Data(repeating: 0x23, count: (1 << 20) + 1).write(to: URL(fileURLWithPath: big))
        do {
            _ = try CollectorFileConfig.load(path: big)
            Issue.record("accepted")
        } catch {
            #expect(error.description == big + ": the configuration file is larger than 1 MiB")
        }
    }

    @Test func emptyFileIsAllDefaults() throws {
        for text in ["", "# nothing\n", "~\n", "---\n"] {
            let c = try CollectorFileConfig.parse(text, path: "e.yaml")
            #expect(c == CollectorFileConfig(path: "e.yaml"))
            #expect(c.outputs.enabledNames.isEmpty)
        }
    }

    @Test func readsEveryKey() throws {
        let yaml = """
        listen: "[::1]:7700"
        metrics_listen: 0.0.0.0:9100
        db: /tmp/l.db
        rules: [rules/, /etc/falco/falco_rules.yaml]
        token_file: /etc/lanner/token
        rule_matching: first
        min_priority: Warning
        aggregation: {window: 1500ms}
        retention: {max_age: 7d, max_rows: 1_000}
        outputs:
          stdout:
          file:
            path: /var/log/a.jsonl
            format: text
            min_priority: error
            queue_size: 50
            retries: 0
            backoff: 0s
            max_backoff: 0s
          syslog: {facility: LOCAL3, tag: lanner-test, format: json, socket: /tmp/s.sock, protocol: rfc5424, enabled: no}
          program: {command: "cat >> /tmp/x", keep_alive: false, timeout: 2.5s, format: text}
          webhook:
            url: https://[::1]:8443/hook?k=v#frag
            headers: {Authorization: Bearer abc, X-Empty: ""}
            timeout: 250ms
            ca_file: /tmp/ca.pem
            backoff: 60s
        """
        let c = try CollectorFileConfig.parse(yaml, path: "full.yaml")
        #expect(c.serve.listen == "[::1]:7700")
        #expect(c.serve.metricsListen == "0.0.0.0:9100")
        #expect(c.serve.db == "/tmp/l.db")
        #expect(c.serve.rules == ["rules/", "/etc/falco/falco_rules.yaml"])
        #expect(c.serve.tokenFile == "/etc/lanner/token")
        #expect(c.serve.ruleMatching == .first)
        #expect(c.serve.minPriority == .warning)
        #expect(c.aggregation.window == .milliseconds(1500))
        #expect(c.retention.maxAge == .seconds(7 * 86_400))
        #expect(c.retention.maxRows == 1000)
        #expect(c.outputs.stdout == StdoutOutputConfig())
        var file = FileOutputConfig()
        file.path = "/var/log/a.jsonl"
        file.format = .text
        file.delivery.minPriority = .error
        file.delivery.queueSize = 50
        file.delivery.retries = 0
        file.delivery.backoff = .zero
        file.delivery.maxBackoff = .zero
        #expect(c.outputs.file == file)
        var syslog = SyslogOutputConfig()
        syslog.facility = .local3
        syslog.tag = "lanner-test"
        syslog.format = .json
        syslog.socket = "/tmp/s.sock"
        syslog.protocol = .rfc5424
        syslog.delivery.enabled = false
        #expect(c.outputs.syslog == syslog)
        var program = ProgramOutputConfig()
        program.command = "cat >> /tmp/x"
        program.keepAlive = false
        program.timeout = .milliseconds(2500)
        program.format = .text
        #expect(c.outputs.program == program)
        let w = try #require(c.outputs.webhook)
        #expect(w.url == (try HTTPURL("https://[::1]:8443/hook?k=v")))
        #expect(w.url?.host == "::1")
        #expect(w.url?.port == 8443)
        #expect(w.url?.target == "/hook?k=v")
        #expect(w.url?.hostHeader == "[::1]:8443")
        #expect(w.url?.description == "https://[::1]:8443/hook")
        #expect(w.headers == [HTTPHeader(name: "Authorization", value: "Bearer abc"), HTTPHeader(name: "X-Empty", value: "")])
        #expect(w.timeout == .milliseconds(250))
        #expect(w.caFile == "/tmp/ca.pem")
        #expect(w.delivery.backoff == .seconds(60))
        #expect(w.delivery.maxBackoff == .seconds(60))   // only backoff given, above the default ceiling
        #expect(c.outputs.enabledNames == ["stdout", "file", "program", "webhook"])
    }

    /// collector/collector.yaml documents every key with its default: loading it gives the defaults, apart from
    /// the example values it marks as having no default.
    @Test func exampleFileIsTheDefaults() throws {
        let c = try CollectorFileConfig.load(path: Self.repoRoot + "/collector/collector.yaml")
        #expect(c.serve.listen == "127.0.0.1:7601")
        #expect(c.serve.metricsListen == "127.0.0.1:7602")   // an example: no default
        #expect(c.serve.db == "/var/lib/lanner/lanner.db")
        #expect(c.serve.rules == ["rules/"])
        #expect(c.serve.tokenFile == "/etc/lanner/token")
        #expect(c.serve.ruleMatching == .all)
        #expect(c.serve.minPriority == .debug)
        #expect(c.serve.resolveNames == true)
        #expect(c.serve.watchRules == true)
        #expect(c.aggregation.window == AggregationSettings.defaultWindow)
        #expect(c.retention.maxAge == RetentionSettings.defaultMaxAge)
        #expect(c.retention.maxRows == RetentionSettings.defaultMaxRows)
        var off = DeliverySettings()
        off.enabled = false
        var stdout = StdoutOutputConfig()
        stdout.delivery = off
        #expect(c.outputs.stdout == stdout)
        var file = FileOutputConfig()
        file.delivery = off
        #expect(c.outputs.file == file)
        var syslog = SyslogOutputConfig()
        syslog.delivery = off
        #expect(c.outputs.syslog == syslog)
        #expect(c.outputs.program?.delivery == off)
        #expect(c.outputs.program?.keepAlive == true)
        #expect(c.outputs.program?.format == .json)
        #expect(c.outputs.program?.timeout == .seconds(10))
        #expect(c.outputs.webhook?.delivery == off)
        #expect(c.outputs.webhook?.timeout == .seconds(5))
        #expect(c.outputs.webhook?.caFile == nil)
        #expect(c.outputs.enabledNames.isEmpty)
        // Every key the reader knows appears in the example.
        let text = try String(contentsOfFile: Self.repoRoot + "/collector/collector.yaml", encoding: .utf8)
        for key in ConfigReader.rootKeys + ConfigReader.outputKeys.values.flatMap({ $0 }) + ["window", "max_age", "max_rows"] {
            #expect(text.contains("\n\(key):") || text.contains(" \(key):"), "collector.yaml does not show '\(key)'")
        }
    }

    @Test(arguments: [
        ("10s", Duration.seconds(10)), ("500ms", .milliseconds(500)), ("1.5s", .milliseconds(1500)), ("2m", .seconds(120)),
        ("1h", .seconds(3600)), ("30d", .seconds(2_592_000)), ("0", .zero), ("7", .seconds(7)), ("250us", .microseconds(250)),
        ("3ns", .nanoseconds(3)), ("0.000000001s", .nanoseconds(1)),
    ])
    func durations(_ text: String, _ d: Duration) {
        #expect(DurationText.parse(text) == d)
    }

    @Test(arguments: ["", "s", "1.s", ".5s", "1..2s", "5 s", "-1s", "1e3s", "10y", "0.0000000001s", "99999999999999d"])
    func badDurations(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func durationFormat() {
        #expect(DurationText.format(.seconds(30)) == "30s")
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
        #expect(DurationText.format(.seconds(86_400 * 30)) == "30d")
        #expect(DurationText.format(.zero) == "0s")
    }

    @Test func backoffDoublesUpToTheCeiling() {
        var d = DeliverySettings()
        d.backoff = .milliseconds(100)
        d.maxBackoff = .milliseconds(700)
        #expect((1...5).map { d.delay(beforeRetry: $0) } == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(700), .milliseconds(700)])
    }

    @Test(arguments: [
        ("http://example.com", "example.com", UInt16(80), "/", "example.com"),
        ("HTTPS://Example.com:8443/a/b?c=d", "Example.com", 8443, "/a/b?c=d", "Example.com:8443"),
        ("http://10.0.0.1:80?x", "10.0.0.1", 80, "/?x", "10.0.0.1"),
        ("https://[2001:db8::1]/", "2001:db8::1", 443, "/", "[2001:db8::1]"),
        ("http://h/p#frag", "h", 80, "/p", "h"),
    ])
    func urls(_ s: String, _ host: String, _ port: UInt16, _ target: String, _ hostHeader: String) throws {
        let u = try HTTPURL(s)
        #expect(u.host == host)
        #expect(u.port == port)
        #expect(u.target == target)
        #expect(u.hostHeader == hostHeader)
    }
}
