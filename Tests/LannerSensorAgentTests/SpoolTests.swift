import Foundation
import Glibc
import Testing
@testable import LannerSensorAgent
import LannerWire

/// The spool: memory, then disk, then counted drops; oldest first across both; files survive a restart.
@Suite struct SpoolTests {
    static let identity = SensorIdentity(sensorID: ID128(hex: "5f0e7d3a-1c2b-4a59-8e6f-0123456789ab")!, bootID: .zero,
                                         bootTimeUnixNs: 1, hostname: "spool-test")

    /// `n` batches of about `size` bytes each, with sequences epoch << 32 | 1…n.
    static func batches(_ n: Int, size: Int = 10_000, epoch: UInt64 = 1) throws -> [Batcher.Finished] {
        var b = Batcher(identity: identity, sensorVersion: "t", maxBytes: size, firstSequence: epoch << 32 | 1)
        var out: [Batcher.Finished] = []
        let rec = AdversarialSensorTests.openat(0)
        while out.count < n {
            rec.withUnsafeBytes { raw in if let f = b.add(raw) { out.append(f) } }
        }
        return out
    }

    static func drain(_ s: Spool) -> [Batcher.Finished] {
        var got: [Batcher.Finished] = []
        while let b = s.peek(timeout: 0.5) {
            got.append(b)
            s.acknowledge(b.sequence)
        }
        return got
    }

    static func files(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".lnrb") }.sorted()
    }

    /// Waits until the spill thread has written every batch it took.
    static func settle(_ s: Spool, _ dir: String, files n: Int) {
        let deadline = Date().addingTimeInterval(10)
        while Self.files(dir).count < n && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    }

    @Test func memoryThenDiskThenCountedDrops() throws {
        let dir = makeTempDir("spool") + "/spool"
        defer { removeTree((dir as NSString).deletingLastPathComponent) }
        let bs = try Self.batches(12)
        let size = bs[0].body.count
        let s = try Spool(memoryBytes: size * 3, directory: dir, diskBytes: size * 5)
        let outcomes = bs.map { s.push($0) }
        #expect(outcomes.prefix(3).allSatisfy { $0 == .memory })
        #expect(outcomes[3..<8].allSatisfy { $0 == .disk }, "\(outcomes)")
        #expect(outcomes[8...].allSatisfy { $0 == .dropped })
        #expect(s.droppedBatches == 4)
        #expect(s.droppedEvents == UInt64(bs[8...].reduce(0) { $0 + $1.events }))
        Self.settle(s, dir, files: 5)
        #expect(Self.files(dir).count == 5)
        // Oldest first, whichever place they are in; a sent file is deleted.
        let got = Self.drain(s)
        #expect(got.map(\.sequence) == bs.prefix(8).map(\.sequence))
        #expect(got.map(\.body) == bs.prefix(8).map(\.body))
        #expect(Self.files(dir).isEmpty)
        #expect(s.isEmpty)
    }

    @Test func newBatchesGoToMemoryAgainWhileOlderOnesWaitOnDisk() throws {
        let dir = makeTempDir("spool2") + "/spool"
        defer { removeTree((dir as NSString).deletingLastPathComponent) }
        let bs = try Self.batches(8)
        let size = bs[0].body.count
        let s = try Spool(memoryBytes: size * 2, directory: dir, diskBytes: size * 100)
        for b in bs.prefix(5) { s.push(b) }          // 2 in memory, 3 to disk
        Self.settle(s, dir, files: 3)
        let first = try #require(s.peek(timeout: 1))
        s.acknowledge(first.sequence)               // memory has room again
        #expect(s.push(bs[5]) == .memory)
        #expect(s.push(bs[6]) == .disk)
        #expect(s.push(bs[7]) == .disk)
        #expect(Self.drain(s).map(\.sequence) == bs[1...].map(\.sequence), "sequence order across memory and disk")
    }

    @Test func batchesOnDiskAreSentByTheNextRunAndDamagedFilesArePutAside() throws {
        let root = makeTempDir("spool3")
        let dir = root + "/spool"
        defer { removeTree(root) }
        let bs = try Self.batches(6)
        do {
            let s = try Spool(memoryBytes: 1 << 20, directory: dir, diskBytes: 1 << 30)
            for b in bs { s.push(b) }
            let sent = try #require(s.peek(timeout: 1))
            s.acknowledge(sent.sequence)
            let kept = s.persistRemaining()
            #expect(kept.kept == 5 && kept.lost == 0)
        }
        #expect(Self.files(dir).count == 5)
        // A crash mid-write leaves a .tmp; a truncated and a foreign file are not batches to send.
        write(dir + "/00000000000000ff.lnrb.tmp", "half a batch")
        write(dir + "/00000000000000aa.lnrb", "LNRB")
        var wrong = bs[0].body
        wrong[16] ^= 0xff   // its sequence no longer matches the name
        _ = FileManager.default.createFile(atPath: dir + "/00000000000000bb.lnrb", contents: Data(wrong))
        let lines = LockedLines()
        let again = try Spool(memoryBytes: 1 << 20, directory: dir, diskBytes: 1 << 30, log: { lines.append($0) })
        #expect(again.recovered.batches == 5)
        #expect(again.recovered.events == bs[1...].reduce(0) { $0 + $1.events })
        #expect(again.highestSpooledEpoch == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/00000000000000ff.lnrb.tmp"))
        #expect(FileManager.default.fileExists(atPath: dir + "/rejected/00000000000000aa.lnrb"))
        #expect(FileManager.default.fileExists(atPath: dir + "/rejected/00000000000000bb.lnrb"))
        #expect(lines.all.contains { $0.contains("00000000000000aa.lnrb") && $0.contains("shorter than a batch header") })
        #expect(lines.all.contains { $0.contains("00000000000000bb.lnrb") && $0.contains("does not match the file name") })
        let got = Self.drain(again)
        #expect(got.map(\.sequence) == bs[1...].map(\.sequence))
        #expect(got.map(\.body) == bs[1...].map(\.body))
        #expect(Self.files(dir).isEmpty)
    }

    @Test func withoutADiskWhatIsLeftAtExitIsCountedLost() throws {
        let bs = try Self.batches(3)
        let s = Spool(maxBytes: 1 << 20)
        for b in bs { s.push(b) }
        let r = s.persistRemaining()
        #expect(r.kept == 0 && r.lost == 3)
        #expect(r.lostEvents == UInt64(bs.reduce(0) { $0 + $1.events }))
    }

    @Test func aBatchAcknowledgedWhileItIsBeingWrittenLeavesNoFile() throws {
        let root = makeTempDir("spool4")
        let dir = root + "/spool"
        defer { removeTree(root) }
        let bs = try Self.batches(200, size: 4096)
        let s = try Spool(memoryBytes: 4096, directory: dir, diskBytes: 1 << 30)
        let sender = Thread {
            var n = 0
            while n < 200, let b = s.peek(timeout: 5) {
                s.acknowledge(b.sequence)
                n += 1
            }
        }
        sender.start()
        for b in bs { #expect(s.push(b) != .dropped) }
        let deadline = Date().addingTimeInterval(20)
        while !s.isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(s.isEmpty)
        _ = s.persistRemaining()   // also waits for the spill thread
        #expect(Self.files(dir).isEmpty, "\(Self.files(dir).count) files left for acknowledged batches")
    }

    @Test func priorityBatchesGoFirstAndANewerSnapshotReplacesAnOlder() throws {
        let bs = try Self.batches(3)
        let snaps = try Self.batches(2, epoch: 7)
        let s = Spool(maxBytes: 1 << 20)
        for b in bs { s.push(b) }
        s.replacePriority([snaps[0]])
        s.replacePriority([snaps[1]])
        #expect(Self.drain(s).map(\.sequence) == [snaps[1].sequence] + bs.map(\.sequence))
    }

    @Test func theRunEpochIsRecordedAndNeverBelowWhatIsOnDisk() throws {
        let dir = makeTempDir("epoch")
        defer { removeTree(dir) }
        #expect(try Agent.nextEpoch(dir) == 1)
        #expect(try Agent.nextEpoch(dir) == 2)
        #expect(try Agent.nextEpoch(dir, atLeast: 10) == 10)
        write(dir + "/run-epoch", "garbage")
        #expect(try Agent.nextEpoch(dir, atLeast: 11) == 11, "a damaged file never lowers the epoch below the spool's")
        chmod(dir, 0o500)
        defer { chmod(dir, 0o700) }
        if geteuid() != 0 {   // root writes anyway
            #expect(throws: AgentError.self) { try Agent.nextEpoch(dir) }
        }
    }
}

final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
