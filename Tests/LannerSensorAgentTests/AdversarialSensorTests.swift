import Foundation
import Testing
import LannerSensorAgent
import LannerWire

/// The sensor's pure batching path under inputs its command line lets through.
@Suite struct AdversarialSensorTests {
    static func identity(hostname: String) throws -> SensorIdentity {
        let dir = NSTemporaryDirectory() + "adv-sensor-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try SensorIdentity.load(stateDirectory: dir, hostname: hostname)
    }

    static func openat(_ i: Int) -> [UInt8] {
        var w = ByteWriter()
        try! OpenEvent(pid: 1, tid: 1, ts: UInt64(i), res: 3, name: ArraySlice("/tmp/f\(i)".utf8),
                       nameraw: ArraySlice("/tmp/f\(i)".utf8)).encode(into: &w)
        return w.bytes
    }

    @Test func batchesAreCutAtTheSizeLimitAndDecode() throws {
        var b = Batcher(identity: try Self.identity(hostname: "h"), sensorVersion: "t", maxBytes: 4096)
        var finished: [Batcher.Finished] = []
        for i in 0..<1000 {
            let r = Self.openat(i)
            if let f = r.withUnsafeBytes({ b.add($0) }) { finished.append(f) }
        }
        if let f = b.finish() { finished.append(f) }
        #expect(finished.reduce(0) { $0 + $1.events } == 1000)
        for f in finished { #expect(f.body.count <= 4096 + 65_535 + 512); _ = try BatchDecoder.decode(f.body) }
        #expect(finished.map(\.sequence) == Array(1...UInt64(finished.count)))
    }

    /// The kernel counters go into every batch's header: drops and, from wire 1.3, the reads that failed.
    @Test func everyBatchCarriesTheKernelCounters() throws {
        var b = Batcher(identity: try Self.identity(hostname: "h"), sensorVersion: "t", maxBytes: 4096)
        var finished: [Batcher.Finished] = []
        for i in 0..<100 {
            let r = Self.openat(i)
            if let f = r.withUnsafeBytes({ b.add($0, counters: .init(kernelDrops: 5, userDrops: 1, readFailures: UInt64(i))) }) { finished.append(f) }
        }
        if let f = b.finish(counters: .init(kernelDrops: 6, userDrops: 2, readFailures: 200)) { finished.append(f) }
        if let f = b.heartbeat(counters: .init(kernelDrops: 7, userDrops: 3, readFailures: 300)) { finished.append(f) }
        #expect(finished.count >= 3)
        let headers = try finished.map { try BatchDecoder.decode($0.body).header }
        #expect(headers.allSatisfy { $0.versionMinor == WireSchema.minor && $0.versionMinor >= BatchHeader.readFailuresMinor })
        #expect(headers.dropLast(2).allSatisfy { $0.kernelDrops == 5 && $0.userDrops == 1 && $0.readFailures > 0 && $0.readFailures < 100 })
        #expect(headers.suffix(2).map(\.readFailures) == [200, 300])
        #expect(headers.suffix(2).map(\.kernelDrops) == [6, 7])
    }

    /// Fixed bug (silent loss + unbounded memory): `lanner-sensor --hostname NAME` accepts any length, but the
    /// batch header allows 255 bytes. `Batcher.finish` then gets `stringTooLong` from the encoder, swallows it
    /// (`guard let body = try? … else { return nil }`) and keeps the records: no batch is ever shipped, nothing
    /// is counted as dropped, and the pending buffer grows without limit.
    @Test func anOverlongHostnameDoesNotSilentlyDropEverything() throws {
        var b = Batcher(identity: try Self.identity(hostname: String(repeating: "h", count: 300)), sensorVersion: "t", maxBytes: 4096)
        var shipped = 0
        for i in 0..<1000 {
            let r = Self.openat(i)
            if let f = r.withUnsafeBytes({ b.add($0) }) { shipped += f.events }
        }
        if let f = b.finish() { shipped += f.events }
        #expect(shipped == 1000, "\(shipped) of 1000 events shipped; \(b.pendingEvents) pending (\(b.pendingBytes) bytes) with a 4096-byte limit")
        #expect(b.pendingBytes <= 4096 + 65_535, "pending buffer grew to \(b.pendingBytes) bytes")
    }
}
