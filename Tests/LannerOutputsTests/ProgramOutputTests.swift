import Foundation
import Testing
import LannerCore
import LannerStore
@testable import LannerOutputs

func programConfig(_ command: String, keepAlive: Bool = true, _ body: (inout ProgramOutputConfig) -> Void = { _ in }) -> OutputsConfig {
    var o = OutputsConfig()
    var p = ProgramOutputConfig()
    p.command = command
    p.keepAlive = keepAlive
    body(&p)
    o.program = p
    return o
}

/// True once `pid` is a zombie or gone (it has exited; only its parent's waitpid is missing).
func hasExited(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    guard let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(close, offsetBy: 2)] == "Z"
}

@Suite struct ProgramOutputTests {
    @Test func longLivedCatGetsEveryAlert() throws {
        let dir = try TempDir()
        let out = dir.file("out.jsonl")
        let hub = try OutputHub(config: programConfig("cat >> '\(out)'"), log: { _ in })
        let alerts = (1...100).map { alert(Int64($0)) }
        hub.publish(alerts)
        #expect(waitUntil { lines(out).count == 100 })
        let c = hub.stop(timeout: .seconds(5))[0]
        #expect(lines(out) == alerts.map { $0.jsonObject() })
        #expect(c.name == "program" && c.target == "cat >> '\(out)'")
        #expect(c.delivered == 100 && c.restarts == 0 && c.failedAttempts == 0)
    }

    /// One process for everything: every line arrives through the same pid.
    @Test func longLivedIsOneProcess() throws {
        let dir = try TempDir()
        let out = dir.file("out.txt")
        let hub = try OutputHub(config: programConfig("while read -r l; do echo \"$$ $l\" >> '\(out)'; done") { $0.format = .text }, log: { _ in })
        hub.publish([alert(1), alert(2), alert(3)])
        #expect(waitUntil { lines(out).count == 3 })
        hub.stop(timeout: .seconds(5))
        let got = lines(out)
        let pids = Set(got.map { $0.split(separator: " ")[0] })
        #expect(pids.count == 1)
        #expect(got.map { String($0.drop(while: { $0 != " " }).dropFirst()) } == [1, 2, 3].map { AlertText.line(alert($0)) })
    }

    /// The program exits; the next alert starts it again and arrives. Its pid changes, the restart is counted
    /// and logged with the exit status.
    @Test func restartsAProgramThatExited() throws {
        let dir = try TempDir()
        let out = dir.file("out.jsonl"), pids = dir.file("pids")
        // Reads one line, writes it, exits 3.
        let log = LogLines()
        let hub = try OutputHub(config: programConfig("echo $$ >> '\(pids)'; read -r l; echo \"$l\" >> '\(out)'; exit 3") {
            $0.delivery.backoff = .milliseconds(10)
        }, log: log.sink)
        hub.publish([alert(1)])
        #expect(waitUntil { lines(out).count == 1 })
        let first = try #require(Int32(lines(pids).first ?? ""))
        #expect(waitUntil { hasExited(first) })
        hub.publish([alert(2)])
        #expect(waitUntil { lines(out).count == 2 })
        let c = hub.stop(timeout: .seconds(5))[0]
        #expect(lines(out) == [alert(1).jsonObject(), alert(2).jsonObject()])
        #expect(lines(pids).count == 2 && lines(pids)[0] != lines(pids)[1])
        #expect(c.restarts == 1 && c.delivered == 2)
        #expect(log.contains("output program: 'echo $$ >> '\(pids)'; read -r l; echo \"$l\" >> '\(out)'; exit 3' (pid \(first)) exited with status 3 after"))
    }

    /// A write the program cannot take (it closed its stdin; EPIPE) is a failed attempt, retried on a new
    /// process. The program starts with the output, so the test can wait until it has closed its input.
    @Test func writeToADeadProgramIsRetriedOnANewOne() throws {
        let dir = try TempDir()
        let out = dir.file("out.jsonl")
        let closed = dir.file("closed")
        // The first process closes its stdin and lingers (the write fails with EPIPE while it still runs);
        // later ones (marker present) read normally.
        let cmd = "if [ -e '\(closed)' ]; then exec cat >> '\(out)'; fi; exec 0<&-; touch '\(closed)'; sleep 0.3; exit 1"
        let hub = try OutputHub(config: programConfig(cmd) { $0.delivery.backoff = .milliseconds(10) }, log: { _ in })
        #expect(waitUntil { FileManager.default.fileExists(atPath: closed) })
        hub.publish([alert(1)])
        #expect(waitUntil { lines(out).count == 1 })
        #expect(waitUntil { hub.counters[0].delivered == 1 })
        let c = hub.stop(timeout: .seconds(5))[0]
        #expect(lines(out) == [alert(1).jsonObject()])
        #expect(c.delivered == 1 && c.failedAttempts == 1 && c.restarts == 1)
        #expect(c.lastError == "the program exited with status 1")
    }

    /// The program exits with alerts unread in its pipe: they are not lost, the next process gets them first.
    @Test func unreadAlertsGoToTheNextProcess() throws {
        let dir = try TempDir()
        let out = dir.file("out.jsonl"), go = dir.file("go")
        // The first process reads nothing until "go" exists, then exits 4 without reading; the next one reads.
        let waiting = dir.file("waiting")
        let cmd = "if [ -e '\(go)' ]; then exec cat >> '\(out)'; fi; touch '\(waiting)'; while [ ! -e '\(go)' ]; do sleep 0.01; done; exit 4"
        let log = LogLines()
        let hub = try OutputHub(config: programConfig(cmd) { $0.delivery.backoff = .milliseconds(10) }, log: log.sink)
        let alerts = (1...5).map { alert(Int64($0)) }
        hub.publish(alerts)
        #expect(waitUntil { hub.counters[0].queueDepth == 5 })
        #expect(hub.counters[0].delivered == 0)   // written, but nobody has read them
        #expect(waitUntil { FileManager.default.fileExists(atPath: waiting) })   // the first process is past its check
        FileManager.default.createFile(atPath: go, contents: nil)
        #expect(waitUntil { lines(out).count == 5 })
        #expect(waitUntil { hub.counters[0].delivered == 5 })
        let c = hub.stop(timeout: .seconds(5))[0]
        #expect(lines(out) == alerts.map { $0.jsonObject() })
        #expect(c.delivered == 5 && c.failedAttempts == 5 && c.restarts == 1 && c.gaveUp == 0)
        #expect(log.contains("exited with status 4 after"))
        #expect(log.contains("; 5 alerts it had not read (ids 1, 2, 3, 4, 5) will be sent to the next process"))
    }

    /// A command that cannot run keeps failing: attempts are counted, restarts are paced (not a tight loop),
    /// alerts are given up on after their retries.
    @Test func brokenCommandIsPacedAndGivenUp() throws {
        let hub = try OutputHub(config: programConfig("exec /nonexistent/lanner-tool") {
            $0.delivery.retries = 2
            $0.delivery.backoff = .milliseconds(20)
            $0.delivery.maxBackoff = .milliseconds(40)
        }, log: { _ in })
        let start = Date()
        hub.publish([alert(1), alert(2)])
        #expect(waitUntil { hub.counters[0].gaveUp == 2 })
        let c = hub.stop(timeout: .seconds(5))[0]
        #expect(c.delivered == 0 && c.gaveUp == 2 && c.failedAttempts == 6)
        // Not a tight loop: a process that dies takes the alerts in its pipe with it (or refuses the write);
        // a handful of restarts, each at least 20 ms after the one before.
        #expect(c.restarts >= 1 && c.restarts <= 6)
        #expect(Date().timeIntervalSince(start) > 0.02 * Double(c.restarts))
        #expect(c.lastError?.hasPrefix("the program") == true)
    }

    @Test func perAlertProcess() throws {
        let dir = try TempDir()
        let out = dir.file("out.jsonl"), pids = dir.file("pids")
        let hub = try OutputHub(config: programConfig("echo $$ >> '\(pids)'; cat >> '\(out)'", keepAlive: false), log: { _ in })
        let alerts = (1...5).map { alert(Int64($0)) }
        hub.publish(alerts)
        #expect(waitUntil { hub.counters[0].delivered == 5 })
        let c = hub.stop(timeout: .seconds(5))[0]
        #expect(lines(out) == alerts.map { $0.jsonObject() })
        #expect(Set(lines(pids)).count == 5)
        #expect(c.delivered == 5 && c.failedAttempts == 0)
    }

    @Test func perAlertFailureAndTimeout() throws {
        let failing = try OutputHub(config: programConfig("cat > /dev/null; exit 2", keepAlive: false) {
            $0.delivery.retries = 1
            $0.delivery.backoff = .milliseconds(1)
        }, log: { _ in })
        failing.publish([alert(1)])
        #expect(waitUntil { failing.counters[0].gaveUp == 1 })
        let f = failing.stop(timeout: .seconds(5))[0]
        #expect(f.failedAttempts == 2 && f.lastError == "the program exited with status 2")

        let dir = try TempDir()
        let pids = dir.file("pids")
        let slow = try OutputHub(config: programConfig("echo $$ >> '\(pids)'; sleep 30", keepAlive: false) {
            $0.timeout = .milliseconds(200)
            $0.delivery.retries = 0
        }, log: { _ in })
        let start = Date()
        slow.publish([alert(1)])
        #expect(waitUntil { slow.counters[0].gaveUp == 1 })
        #expect(Date().timeIntervalSince(start) < 5)
        let s = slow.stop(timeout: .seconds(5))[0]
        #expect(s.lastError == "the program did not finish within 200ms; killed")
        // The whole process group is gone (sh and its sleep).
        let pid = try #require(Int32(lines(pids).first ?? ""))
        #expect(waitUntil { kill(-pid, 0) != 0 })
    }

    /// A program that never reads: its pipe fills, then its queue; drops are counted; publish stays instant;
    /// shutdown returns by the deadline and stops the program.
    @Test func programThatDoesNotReadOnlyHurtsItself() throws {
        let dir = try TempDir()
        let pids = dir.file("pids")
        let hub = try OutputHub(config: programConfig("echo $$ >> '\(pids)'; exec sleep 60") { $0.delivery.queueSize = 100 }, log: { _ in })
        let big = String(repeating: "x", count: 4000)
        var worst = 0.0
        for i in 0..<500 {
            let t = Date()
            hub.publish([alert(Int64(i), output: big)])
            worst = max(worst, Date().timeIntervalSince(t))
        }
        #expect(worst < 0.005)
        #expect(waitUntil { hub.counters[0].dropped > 0 })
        let start = Date()
        let c = hub.stop(deadline: .now + .milliseconds(300))[0]
        #expect(Date().timeIntervalSince(start) < 1.5)
        #expect(c.accepted + c.dropped == 500)
        #expect(c.accepted == c.delivered + c.gaveUp + c.abandoned)
        #expect(c.abandoned > 0 && c.queueDepth == 0)
        let pid = try #require(Int32(lines(pids).first ?? ""))
        #expect(waitUntil { kill(-pid, 0) != 0 })
    }

    /// Shutdown: the program gets end of input, finishes what it read and exits; nothing is lost.
    @Test func shutdownLetsTheProgramFinish() throws {
        let dir = try TempDir()
        let out = dir.file("out.jsonl")
        let hub = try OutputHub(config: programConfig("while read -r l; do sleep 0.01; echo \"$l\" >> '\(out)'; done"), log: { _ in })
        let alerts = (1...20).map { alert(Int64($0)) }
        hub.publish(alerts)
        let c = hub.stop(timeout: .seconds(5))[0]
        #expect(c.delivered == 20)
        #expect(lines(out) == alerts.map { $0.jsonObject() })
    }
}
