import Foundation
import Testing
import LannerCore
import LannerStore
@testable import LannerOutputs

func fileConfig(_ path: String, format: AlertFormat = .json) -> OutputsConfig {
    var o = OutputsConfig()
    var f = FileOutputConfig()
    f.path = path
    f.format = format
    o.file = f
    return o
}

func lines(_ path: String) -> [String] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n", omittingEmptySubsequences: false)
        .dropLast().map(String.init)
}

@Suite struct FileOutputTests {
    @Test func writesJSONLinesThatReadBack() throws {
        let dir = try TempDir()
        let path = dir.file("alerts.jsonl")
        let hub = try OutputHub(config: fileConfig(path), log: { _ in })
        let alerts = (1...50).map { alert(Int64($0), priority: $0 % 2 == 0 ? .error : .notice, output: "n=\($0) \"q\"\nnl") }
        hub.publish(Array(alerts[0..<20]))
        hub.publish(Array(alerts[20...]))
        #expect(waitUntil { lines(path).count == 50 })
        let final = hub.stop(timeout: .seconds(5))
        let got = lines(path)
        #expect(got == alerts.map { $0.jsonObject() })
        for (line, a) in zip(got, alerts) {
            let o = try #require(jsonObject(line))
            #expect(o["rule"] as? String == a.rule)
            #expect(o["priority"] as? String == a.priority.name)
            #expect((o["lanner"] as? [String: Any])?["id"] as? Int == Int(a.id))
            #expect((o["output_fields"] as? [String: Any])?["proc.name"] as? String == "bash")
        }
        #expect(final.count == 1)
        #expect(final[0].name == "file" && final[0].target == path)
        #expect(final[0].accepted == 50 && final[0].delivered == 50 && final[0].queueDepth == 0)
        #expect(final[0].dropped == 0 && final[0].failedAttempts == 0 && final[0].gaveUp == 0)
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
    }

    @Test func textFormat() throws {
        let dir = try TempDir()
        let path = dir.file("alerts.log")
        let hub = try OutputHub(config: fileConfig(path, format: .text), log: { _ in })
        hub.publish([alert(1), alert(2)])
        hub.stop(timeout: .seconds(5))
        #expect(lines(path) == [AlertText.line(alert(1)), AlertText.line(alert(2))])
    }

    @Test func followsRotationByRename() throws {
        let dir = try TempDir()
        let path = dir.file("alerts.jsonl")
        let hub = try OutputHub(config: fileConfig(path), log: { _ in })
        hub.publish([alert(1), alert(2)])
        #expect(waitUntil { lines(path).count == 2 })
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")   // logrotate's rename
        hub.publish([alert(3)])
        #expect(waitUntil { lines(path).count == 1 })
        hub.stop(timeout: .seconds(5))
        #expect(lines(path + ".1") == [alert(1).jsonObject(), alert(2).jsonObject()])
        #expect(lines(path) == [alert(3).jsonObject()])
    }

    @Test func followsDeletion() throws {
        let dir = try TempDir()
        let path = dir.file("alerts.jsonl")
        let hub = try OutputHub(config: fileConfig(path), log: { _ in })
        hub.publish([alert(1)])
        #expect(waitUntil { lines(path).count == 1 })
        try FileManager.default.removeItem(atPath: path)
        hub.publish([alert(2)])
        #expect(waitUntil { lines(path).count == 1 })
        hub.stop(timeout: .seconds(5))
        #expect(lines(path) == [alert(2).jsonObject()])
    }

    /// SIGHUP's reopen: the collector reopens the path even when it still names the old file (a rotation tool
    /// that renames and recreates between our checks leaves the path pointing at a new file; reopen covers a
    /// tool that expects it, e.g. copy then truncate elsewhere).
    @Test func reopenOpensThePathAfresh() throws {
        let dir = try TempDir()
        let path = dir.file("alerts.jsonl")
        let hub = try OutputHub(config: fileConfig(path), log: { _ in })
        hub.publish([alert(1)])
        #expect(waitUntil { lines(path).count == 1 })
        // Rename, then create a new file at the path at once (so the next write's check sees a new file anyway),
        // and also ask for the reopen: either way alert 2 lands in the new file and nothing is lost.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".old")
        FileManager.default.createFile(atPath: path, contents: nil)
        hub.reopen()
        hub.publish([alert(2)])
        #expect(waitUntil { lines(path).count == 1 })
        hub.stop(timeout: .seconds(5))
        #expect(lines(path + ".old") == [alert(1).jsonObject()])
        #expect(lines(path) == [alert(2).jsonObject()])
    }

    @Test func reopenWhileIdleReleasesTheOldFile() throws {
        let dir = try TempDir()
        let path = dir.file("alerts.jsonl")
        let hub = try OutputHub(config: fileConfig(path), log: { _ in })
        hub.publish([alert(1)])
        #expect(waitUntil { lines(path).count == 1 })
        try FileManager.default.moveItem(atPath: path, toPath: path + ".old")
        hub.reopen()
        // The reopen happens without a further alert: the new file appears, the old one is no longer open.
        #expect(waitUntil { FileManager.default.fileExists(atPath: path) })
        #expect(waitUntil { !openFiles().contains(path + ".old") })
        hub.stop(timeout: .seconds(5))
    }

    @Test func badPathFailsAtStartup() throws {
        let dir = try TempDir()
        #expect(throws: OutputSetupError(output: "outputs.file",
                                         message: "cannot open '\(dir.path)/no/such/dir/a.jsonl' for appending: No such file or directory")) {
            try OutputHub(config: fileConfig(dir.path + "/no/such/dir/a.jsonl"), log: { _ in })
        }
        #expect(throws: OutputSetupError(output: "outputs.file", message: "cannot open '\(dir.path)' for appending: Is a directory")) {
            try OutputHub(config: fileConfig(dir.path), log: { _ in })
        }
        mkfifo(dir.file("fifo"), 0o600)
        #expect(throws: OutputSetupError.self) { try OutputHub(config: fileConfig(dir.file("fifo")), log: { _ in }) }
    }

    /// Disk full: the write fails, is retried, and is given up on, counted; nothing crashes. /dev/full fails
    /// every write with ENOSPC.
    @Test func writeErrorsAreCountedAndRetried() throws {
        var config = fileConfig("/dev/full")
        config.file!.delivery.retries = 2
        config.file!.delivery.backoff = .milliseconds(1)
        let log = LogLines()
        let hub = try OutputHub(config: config, log: log.sink)
        hub.publish([alert(1), alert(2)])
        #expect(waitUntil { hub.counters[0].gaveUp == 2 })
        let c = hub.stop(timeout: .seconds(5))[0]
        #expect(c.failedAttempts == 6 && c.gaveUp == 2 && c.delivered == 0)
        #expect(c.lastError == "write to '/dev/full': No space left on device")
        #expect(log.contains("output file: gave up on alert 1 (rule \"Shell in container\") after 3 attempts: write to '/dev/full': No space left on device"))
        // The second give-up fell inside the log's rate limit: it is named when the output stops.
        #expect(log.contains("output file: also gave up on 1 more alert (ids 2); last: after 3 attempts: write to '/dev/full': No space left on device"))
    }
}

/// Paths this process has open.
func openFiles() -> [String] {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
}
