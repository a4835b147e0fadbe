import Foundation
import Glibc
import Testing

/// The suites that run a real sensor. Every sensor sees every process on the host, so two of them running
/// lanner-eventgen at once would each see the other's alerts: they run one at a time, inside this suite.
@Suite(.serialized) enum RealSystem {}

/// Where the built binaries and the repository are.
enum E2E {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `LANNER_BIN_DIR`, else the debug build directory.
    static var bin: URL {
        if let d = ProcessInfo.processInfo.environment["LANNER_BIN_DIR"] { return URL(fileURLWithPath: d) }
        return repo.appendingPathComponent(".build/debug")
    }

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Real eBPF needs root. Under CI=true a missing requirement is a failure, never a skip.
    static var canRunBPF: Bool { getuid() == 0 || isCI }

    static func binary(_ name: String) throws -> String {
        let path = bin.appendingPathComponent(name).path
        try #require(FileManager.default.isExecutableFile(atPath: path), "\(path) is missing: run `make debug` (or swift build) first")
        return path
    }

    /// A fresh scratch directory for one test. The previous run's directories for the same tag are removed
    /// first, so the last run's logs stay for a look and nothing piles up.
    static func tempDir(_ tag: String) throws -> String {
        let tmp = NSTemporaryDirectory()
        for old in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] where old.hasPrefix("lanner-e2e-\(tag)-") {
            try? FileManager.default.removeItem(atPath: tmp + old)
        }
        let d = tmp + "lanner-e2e-\(tag)-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

/// A child process whose stdout and stderr go to a log file; stopped with SIGINT (then SIGKILL) when done.
final class Child: @unchecked Sendable {
    let process = Process()
    let logPath: String
    let name: String

    init(_ executable: String, _ args: [String], log: String) throws {
        name = (executable as NSString).lastPathComponent
        logPath = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until `count` lines of the log contain `text`; returns those lines.
    @discardableResult
    func waitFor(lines text: String, count: Int, timeout: TimeInterval = 30) throws -> [Substring] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let found = log.split(separator: "\n").filter { $0.contains(text) }
            if found.count >= count { return found }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("\(name) did not print \(count) lines with '\(text)':\n\(log)")
        throw CancellationError()
    }

    /// Waits until the log contains `text`; fails (with the log) on timeout or when the process exits first.
    @discardableResult
    func waitFor(_ text: String, timeout: TimeInterval = 30) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let l = log
            if l.contains(text) { return l }
            if !process.isRunning {
                Issue.record("\(name) exited (status \(process.terminationStatus)) before printing '\(text)':\n\(l)")
                throw CancellationError()
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("timed out waiting for '\(text)' from \(name):\n\(log)")
        throw CancellationError()
    }

    /// SIGINT, then waits; returns the exit status (SIGKILL after `timeout`, recorded as an issue).
    @discardableResult
    func stop(timeout: TimeInterval = 20) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGINT)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            Issue.record("\(name) did not stop within \(timeout)s of SIGINT; killing it\n\(log)")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// Runs a program to completion and returns its status and output.
@discardableResult
func runProgram(_ path: String, _ args: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
