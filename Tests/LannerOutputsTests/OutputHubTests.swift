import Foundation
import Glibc
import Testing
import LannerCore
import LannerStore
@testable import LannerOutputs

/// A pipe the test reads what an output writes to "stdout".
final class TestPipe {
    let read: Int32, write: Int32
    init() {
        var p: [Int32] = [-1, -1]
        pipe(&p)
        read = p[0]
        write = p[1]
    }
    deinit {
        close(read)
        close(write)
    }
    /// Lines read until `count` have arrived or `seconds` pass.
    func lines(_ count: Int, seconds: Double = 5) -> [String] {
        var text = ""
        let end = Date(timeIntervalSinceNow: seconds)
        var buf = [UInt8](repeating: 0, count: 65_536)
        while text.filter({ $0 == "\n" }).count < count && Date() < end {
            var p = pollfd(fd: read, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) == 1 else { continue }
            let n = Glibc.read(read, &buf, buf.count)
            if n <= 0 { break }
            text += String(decoding: buf[0..<n], as: UTF8.self)
        }
        return text.split(separator: "\n").map(String.init)
    }
}

@Suite struct OutputHubTests {
    func stdoutSpec(_ fd: Int32, _ format: AlertFormat, _ settings: DeliverySettings = DeliverySettings()) -> OutputHub.Spec {
        OutputHub.Spec(name: "stdout", target: "stdout", settings: settings, sink: StreamSink(fd: fd, format: format))
    }

    @Test func stdoutTextAndJSON() {
        let text = TestPipe(), json = TestPipe()
        let hub = OutputHub(specs: [stdoutSpec(text.write, .text), stdoutSpec(json.write, .json)], log: { _ in })
        let alerts = [alert(1, priority: .error), alert(2, output: "multi\nline")]
        hub.publish(alerts)
        #expect(text.lines(2) == alerts.map(AlertText.line))
        #expect(json.lines(2) == alerts.map { $0.jsonObject() })
        hub.stop(timeout: .seconds(5))
    }

    @Test func minPriorityPicksAlertsPerOutput() throws {
        let dir = try TempDir()
        var config = fileConfig(dir.file("errors.jsonl"))
        config.file!.delivery.minPriority = .error
        var syslogLike = ProgramOutputConfig()
        syslogLike.command = "cat >> '\(dir.file("all.jsonl"))'"
        config.program = syslogLike
        let hub = try OutputHub(config: config, log: { _ in })
        let alerts: [StoredAlert] = [alert(1, priority: .notice), alert(2, priority: .error), alert(3, priority: .critical), alert(4, priority: .debug)]
        hub.publish(alerts)
        #expect(waitUntil { lines(dir.file("all.jsonl")).count == 4 })
        let c = hub.stop(timeout: .seconds(5))
        #expect(hub.outputNames == ["file", "program"])
        #expect(lines(dir.file("errors.jsonl")) == [alerts[1], alerts[2]].map { $0.jsonObject() })
        #expect(c[0].filtered == 2 && c[0].accepted == 2 && c[0].delivered == 2)
        #expect(c[1].filtered == 0 && c[1].delivered == 4)
    }

    @Test func disabledAndAbsentOutputsDoNotRun() throws {
        var config = OutputsConfig()
        var s = StdoutOutputConfig()
        s.delivery.enabled = false
        config.stdout = s
        let hub = try OutputHub(config: config, log: { _ in })
        #expect(hub.counters.isEmpty && hub.outputNames.isEmpty)
        hub.publish([alert(1)])
        hub.reopen()
        #expect(hub.stop(timeout: .seconds(1)).isEmpty)
    }

    @Test func stopIsIdempotentAndLaterAlertsAreCountedAsDropped() throws {
        let dir = try TempDir()
        let hub = try OutputHub(config: fileConfig(dir.file("a.jsonl")), log: { _ in })
        hub.publish([alert(1)])
        let first = hub.stop(timeout: .seconds(5))
        #expect(first[0].delivered == 1)
        hub.publish([alert(2), alert(3)])
        #expect(hub.counters[0].dropped == 2)
        #expect(hub.stop(timeout: .seconds(5)) == first)
        #expect(lines(dir.file("a.jsonl")).count == 1)
    }

    /// An output whose reader stopped reading (stdout into a full pipe) does not keep shutdown waiting past its
    /// deadline.
    @Test func stuckStdoutStopsAtTheDeadline() {
        let p = TestPipe()
        var settings = DeliverySettings()
        settings.queueSize = 1000
        let hub = OutputHub(specs: [stdoutSpec(p.write, .json)], log: { _ in })
        let big = String(repeating: "y", count: 3000)
        hub.publish((1...200).map { alert(Int64($0), output: big) })   // ~700 KB into a 64 KiB pipe
        #expect(waitUntil { hub.counters[0].delivered > 0 })
        let start = Date()
        let c = hub.stop(deadline: .now + .milliseconds(200))[0]
        let took = Date().timeIntervalSince(start)
        #expect(took >= 0.15 && took < 1.5)
        #expect(c.delivered > 0 && c.abandoned > 0 && c.delivered + c.abandoned == 200)
    }

    /// The counters add up at every moment, whatever the outputs are doing: a file, a webhook that fails every
    /// third request, a program; alerts published from two threads at once.
    @Test func countersAlwaysAddUp() throws {
        let dir = try TempDir()
        let server = try TestHTTPServer { _, i in i % 3 == 0 ? .respond(status: 500) : .respond(status: 200) }
        var config = try webhookConfig("http://127.0.0.1:\(server.port)/") {
            $0.delivery.queueSize = 300
            $0.delivery.retries = 1
            $0.delivery.backoff = .zero
        }
        config.file = fileConfig(dir.file("a.jsonl")).file
        var p = ProgramOutputConfig()
        p.command = "cat > /dev/null"
        p.delivery.queueSize = 200
        config.program = p
        let hub = try OutputHub(config: config, log: { _ in })
        let publishers = DispatchGroup()
        for t in 0..<2 {
            DispatchQueue.global().async(group: publishers) {
                for i in 0..<500 { hub.publish([alert(Int64(t * 1000 + i), priority: i % 2 == 0 ? .warning : .debug)]) }
            }
        }
        var samples = 0
        while publishers.wait(timeout: .now()) == .timedOut || samples < 50 {
            for c in hub.counters {
                #expect(c.accepted == c.delivered + c.gaveUp + c.abandoned + UInt64(c.queueDepth), "\(c)")
                #expect(c.queueDepth <= c.queueCapacity)
            }
            samples += 1
            usleep(1000)
        }
        let final = hub.stop(timeout: .seconds(10))
        for c in final {
            #expect(c.accepted + c.dropped + c.filtered == 1000, "\(c)")
            #expect(c.accepted == c.delivered + c.gaveUp + c.abandoned, "\(c)")
            #expect(c.queueDepth == 0)
        }
        #expect(final.first { $0.name == "file" }!.delivered == 1000)
        #expect(lines(dir.file("a.jsonl")).count == 1000)
    }

    @Test func settingsMadeInCodeAreChecked() throws {
        var c = fileConfig("/dev/null")
        c.file!.delivery.queueSize = 0
        #expect(throws: OutputSetupError(output: "outputs.file", message: "queue_size must be from 1 to 10000000, not 0")) {
            try OutputHub(config: c, log: { _ in })
        }
        #expect(throws: OutputSetupError(output: "outputs.webhook",
                                         message: "header 'X-A' cannot be sent (a bad name, a client header, or a line break in its value)")) {
            try OutputHub(config: webhookConfig("http://127.0.0.1:1/") { $0.headers = [HTTPHeader(name: "X-A", value: "a\r\nHost: evil")] }, log: { _ in })
        }
        var p = OutputsConfig()
        p.program = ProgramOutputConfig()
        #expect(throws: OutputSetupError(output: "outputs.program", message: "no command")) { try OutputHub(config: p, log: { _ in }) }
    }

    @Test func closedOrReadOnlyStdoutIsRefused() {
        let p = TestPipe()
        #expect(StreamSink.problem(fd: p.write) == nil)
        #expect(StreamSink.problem(fd: p.read) == "descriptor \(p.read) is open for reading only")
        #expect(StreamSink.problem(fd: 987) == "descriptor 987 is closed (Bad file descriptor)")
    }

    @Test func storedAlertsFromACommit() {
        let new = [NewAlert(timeNs: 5, host: "h", sensorID: "s", rule: "r", priority: .error, output: "o", tags: ["t"], fieldsJSON: ""),
                   NewAlert(timeNs: 6, host: "h2", sensorID: "s2", rule: "r2", priority: .debug, source: "k8s", output: "o2",
                            fieldsJSON: #"{"a":1}"#, containerID: "c")]
        // What the store itself returns for these rows.
        let dir = try! TempDir()
        let store = try! AlertStore(path: dir.file("a.db"))
        guard case .committed(let ids) = try! store.commit(sensorID: "s", sequence: 1, events: 2, alerts: new) else {
            Issue.record("not committed")
            return
        }
        #expect(OutputHub.storedAlerts(new, ids: ids) == (try! store.query(AlertQuery(newestFirst: false))))
        #expect(OutputHub.storedAlerts(new, ids: [10, 11]) == [
            StoredAlert(id: 10, timeNs: 5, host: "h", sensorID: "s", rule: "r", priority: .error, source: "syscall", output: "o",
                        tags: ["t"], fieldsJSON: "{}", containerID: nil, count: 1, lastSeenNs: 5),
            StoredAlert(id: 11, timeNs: 6, host: "h2", sensorID: "s2", rule: "r2", priority: .debug, source: "k8s", output: "o2",
                        tags: [], fieldsJSON: #"{"a":1}"#, containerID: "c", count: 1, lastSeenNs: 6),
        ])
    }
}
