import Foundation
import Testing
@testable import LannerWire

@Suite struct GoldenVectorTests {
    @Test(arguments: Golden.cases.map(\.name))
    func encoderMatchesGoldenBytesAndDecoderMatchesGoldenJSON(name: String) throws {
        let c = Golden.cases.first { $0.name == name }!
        let body = try Golden.body(c)
        let binURL = Golden.directory.appendingPathComponent(name + ".bin")
        let jsonURL = Golden.directory.appendingPathComponent(name + ".json")
        if ProcessInfo.processInfo.environment["LANNER_UPDATE_GOLDEN"] == "1" {
            try Data(body).write(to: binURL)
            try Golden.expectedJSON(body).write(to: jsonURL, atomically: true, encoding: .utf8)
        }
        let golden = try [UInt8](Data(contentsOf: binURL))
        if Golden.compressed.contains(name) && Zstd.libraryVersion != Golden.goldenZstdVersion {
            // Another libzstd may pick other bytes for the same frame: the header and the records must agree.
            #expect(try BatchDecoder.decode(body).body == BatchDecoder.decode(golden).body, "\(name): decompressed form differs")
        } else {
            #expect(body == golden, "encoder output differs from \(name).bin")
        }
        let json = try String(contentsOf: jsonURL, encoding: .utf8)
        #expect(try Golden.expectedJSON(golden) == json, "decoded \(name).bin differs from \(name).json")
    }

    /// 1.3 appends the kernel's read failures to the header, right after the sensor version (proto/README.md,
    /// "Batch"); the header length covers them.
    @Test func readFailuresFollowTheSensorVersionFrom1_3() throws {
        let golden = try [UInt8](Data(contentsOf: Golden.directory.appendingPathComponent("001-execve.bin")))
        func u16(_ at: Int) -> Int { Int(golden[at]) | Int(golden[at + 1]) << 8 }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(golden[at + $1]) << (8 * $1) } }
        #expect(u16(4) == 1 && u16(6) == 3)
        let versionEnd = 88 + 2 + "web-1".utf8.count + 2 + "0.1.0".utf8.count
        #expect(Int(u64(8) & 0xffff_ffff) == versionEnd + 8, "header length covers the read failures")
        #expect(u64(versionEnd) == 2)
        #expect(try BatchDecoder.decode(golden).header.readFailures == 2)
    }

    /// A collector of this version reads a 1.2 sensor's batches (no read failures: 0), and a 1.2 collector reads
    /// 1.3 batches: everything it knows sits where 1.2 put it, and it finds the records at the header length.
    @Test func versions1_2And1_3ReadEachOther() throws {
        let old = try [UInt8](Data(contentsOf: Golden.directory.appendingPathComponent("007-v1.2-header.bin")))
        let oldBatch = try BatchDecoder.decode(old)
        #expect(oldBatch.header.versionMinor == 2 && oldBatch.header.readFailures == 0)
        #expect(try CloneEvent(oldBatch.records[0]) == Golden.clone)
        #expect(try ProcexitEvent(oldBatch.records[1]) == Golden.exit)

        // The same batch as 1.3 sends it: equal to 1.2's bytes but for the minor version, the header length and the
        // 8 bytes the header length now covers.
        var h = Golden.header(seq: 7)
        h.readFailures = 9
        var enc = BatchEncoder()
        try enc.append(Golden.clone)
        try enc.append(Golden.exit)
        let new = try enc.finish(header: h)
        let oldHeaderLength = Int(old[8]) | Int(old[9]) << 8
        #expect(new.count == old.count + 8)
        #expect(Array(new[0..<6]) == Array(old[0..<6]) && Array(new[10..<oldHeaderLength]) == Array(old[10..<oldHeaderLength]))
        #expect(new[6] == 3 && old[6] == 2)
        #expect(Int(new[8]) | Int(new[9]) << 8 == oldHeaderLength + 8)
        #expect(Array(new[(oldHeaderLength + 8)...]) == Array(old[oldHeaderLength...]), "the records follow the header length")
        #expect(try BatchDecoder.decode(new).header.readFailures == 9)
    }

    /// A newer minor may append more header fields after the read failures: they are skipped by the header length.
    @Test func headerFieldsOfANewerMinorAreSkipped() throws {
        var body = AdversarialWireTests.batch([AdversarialWireTests.exit()], minor: WireSchema.minor + 1, readFailures: 77)
        let headerLength = Int(body[8]) | Int(body[9]) << 8
        body.insert(contentsOf: [UInt8](repeating: 0xee, count: 12), at: headerLength)
        body[8] = UInt8((headerLength + 12) & 0xff)
        let batch = try BatchDecoder.decode(body)
        #expect(batch.header.readFailures == 77)
        #expect(batch.records.count == 1 && batch.records[0].eventType == .procexit)
    }

    /// A 1.3 header must carry its read failures: one that ends at the sensor version is refused, naming the byte.
    @Test func aVersion1_3HeaderWithoutReadFailuresIsRefused() throws {
        let versionEnd = 88 + 2 + 4 + 2 + 1
        let body = AdversarialWireTests.batch([AdversarialWireTests.exit()], minor: 3, headerLen: UInt32(versionEnd))
        let cut = Array(body[..<versionEnd]) + Array(body[(versionEnd + 8)...])   // the u64 taken out
        #expect(throws: WireError.truncated(what: "batch header: read failures (version 1.3 on)", offset: versionEnd, needed: 8, available: 0)) {
            try BatchDecoder.decode(cut)
        }
        #expect(WireError.truncated(what: "batch header: read failures (version 1.3 on)", offset: versionEnd, needed: 8, available: 0).description
                == "truncated batch header: read failures (version 1.3 on) at byte 97: needs 8 bytes, 0 available")
    }

    @Test func goldenExecveHasTheDocumentedLayout() throws {
        let golden = try [UInt8](Data(contentsOf: Golden.directory.appendingPathComponent("001-execve.bin")))
        #expect(Array(golden[0..<4]) == Array("LNRB".utf8))
        let batch = try BatchDecoder.decode(golden)
        #expect(batch.header == Golden.header(seq: 1))
        let rec = try #require(batch.records.first)
        #expect(rec.eventType == .execve)
        let e = try ExecveEvent(rec)
        #expect(e == Golden.execve)
        #expect(EventType.execve.fixedSize == 92)
        #expect(rec.length == 92 + 2 * 6 + 3 + 12 + 8 + 23 + 5 + 11)
    }
}

@Suite struct RoundTripTests {
    @Test func everyEventTypeRoundTrips() throws {
        let body = try Golden.body(Golden.cases[2])
        let batch = try BatchDecoder.decode(body)
        #expect(batch.records.count == 8)
        #expect(try ExecveEvent(batch.records[0]) == Golden.procinfo)
        #expect(try UserinfoEvent(batch.records[1]) == Golden.user)
        #expect(try GroupinfoEvent(batch.records[2]) == Golden.group)
        #expect(try CloneEvent(batch.records[3]) == Golden.clone)
        #expect(try ExecveEvent(batch.records[4]) == Golden.execve)
        #expect(try OpenEvent(batch.records[5]) == Golden.openat)
        #expect(try ConnectEvent(batch.records[6]) == Golden.connect)
        #expect(try ProcexitEvent(batch.records[7]) == Golden.exit)
        #expect(batch.header.kernelDrops == 3)
    }

    @Test func rawRecordsAppendUnchanged() throws {
        var w = ByteWriter()
        try Golden.openat.encode(into: &w)
        var enc = BatchEncoder()
        try enc.append(record: w.bytes)
        let batch = try BatchDecoder.decode(try enc.finish(header: Golden.header(seq: 9)))
        #expect(try OpenEvent(batch.records[0]) == Golden.openat)
        #expect(Array(batch.records[0].storage[batch.records[0].start..<(batch.records[0].start + batch.records[0].length)]) == w.bytes)
    }

    @Test func decodingTheWrongStructIsATypedError() throws {
        let batch = try BatchDecoder.decode(try Golden.body(Golden.cases[0]))
        #expect(throws: WireError.wrongEventType(expected: "open", got: 1, offset: batch.records[0].start)) { try OpenEvent(batch.records[0]) }
    }

    @Test func oversizeRecordIsRefusedByTheEncoder() throws {
        let big = ArraySlice([UInt8](repeating: 65, count: 70_000))
        var w = ByteWriter()
        let e = OpenEvent(pid: 1, tid: 1, ts: 1, name: big)
        #expect(throws: WireError.self) { try e.encode(into: &w) }
    }

    @Test func recordSplitting() {
        #expect(RecordDump.splitList(ArraySlice("a\0bc\0".utf8)).map { String(decoding: $0, as: UTF8.self) } == ["a", "bc"])
        #expect(RecordDump.splitList(ArraySlice("a\0bc".utf8)).count == 2)
        #expect(RecordDump.splitList([]).isEmpty)
    }
}

@Suite struct MalformedBatchTests {
    static func golden() throws -> [UInt8] { try Golden.body(Golden.cases[2]) }

    @Test func everyTruncationIsATypedErrorNeverACrash() throws {
        let body = try Self.golden()
        for n in 0..<body.count {
            #expect(throws: WireError.self) { try BatchDecoder.decode(Array(body[0..<n])) }
        }
    }

    @Test func badMagic() throws {
        var body = try Self.golden()
        body[0] = UInt8(ascii: "X")
        #expect(throws: WireError.badMagic(found: Array("XNRB".utf8))) { try BatchDecoder.decode(body) }
    }

    @Test func wrongMajorVersion() throws {
        var body = try Self.golden()
        body[4] = 2
        #expect(throws: WireError.unsupportedVersion(major: 2, minor: WireSchema.minor, supportedMajor: 1)) { try BatchDecoder.decode(body) }
    }

    @Test func oversizedBatch() throws {
        let body = try Self.golden()
        #expect(throws: WireError.batchTooLarge(size: body.count, limit: 100)) { try BatchDecoder.decode(body, maxBatchBytes: 100) }
    }

    @Test func recordLengthPastTheEnd() throws {
        var body = try Golden.body(Golden.cases[1])
        let headerLen = Int(body[8]) | Int(body[9]) << 8
        body[headerLen] = 0xff
        body[headerLen + 1] = 0x7f
        do {
            _ = try BatchDecoder.decode(body)
            Issue.record("expected an error")
        } catch {
            guard case .recordLength(let off, let len, _) = error else { Issue.record("got \(error)"); return }
            #expect(off == headerLen)
            #expect(len == 0x7fff)
        }
    }

    @Test func variableFieldOverrun() throws {
        var body = try Golden.body(Golden.cases[1])
        let headerLen = Int(body[8]) | Int(body[9]) << 8
        // The openat record's first variable field (name) starts after the 52-byte fixed part.
        body[headerLen + 52] = 200
        #expect(throws: WireError.self) { try BatchDecoder.decode(body) }
        do { _ = try BatchDecoder.decode(body) } catch {
            #expect(error.description.contains("field 'name'"))
        }
    }

    @Test func countMismatch() throws {
        var body = try Self.golden()
        body[48] = 9
        #expect(throws: WireError.eventCount(declared: 9, actual: 8)) { try BatchDecoder.decode(body) }
    }

    @Test func randomGarbageNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var body = (try? Self.golden()) ?? []
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                body[Int.random(in: 0..<body.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if let batch = try? BatchDecoder.decode(body) {
                for r in batch.records { _ = RecordDump.json(r) }
            }
        }
        for n in [0, 1, 3, 50, 200] {
            let junk = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(throws: WireError.self) { try BatchDecoder.decode(junk) }
        }
    }

    @Test func newerMinorVersionMayAppendFieldsAndEvents() throws {
        var w = ByteWriter()
        try Golden.exit.encode(into: &w)
        var rec = w.bytes
        rec.append(contentsOf: [9, 9, 9, 9])          // a field appended by a newer minor version
        rec[0] = UInt8(rec.count)
        var unknown = ByteWriter()                    // an event type this build does not know
        unknown.write(UInt16(24)); unknown.write(UInt16(999)); unknown.write(UInt32(1)); unknown.write(UInt32(1))
        unknown.write(UInt64(1)); unknown.write(UInt32(7))
        var enc = BatchEncoder()
        try enc.append(record: rec)
        try enc.append(record: unknown.bytes)
        var header = Golden.header(seq: 5)
        header.versionMinor = WireSchema.minor + 1
        let body = try enc.finish(header: header)
        let batch = try BatchDecoder.decode(body)
        #expect(batch.records.count == 2)
        #expect(batch.records[1].eventType == nil)
        #expect(try ProcexitEvent(batch.records[0]).status == 0)
        // The same bytes claiming our own minor version are rejected: trailing bytes are not ours.
        var strict = body
        strict[6] = UInt8(WireSchema.minor)
        #expect(throws: WireError.self) { try BatchDecoder.decode(strict) }
    }
}

/// The generated encoders write every field from the struct. A field named like one of `encode`'s locals (mmap's,
/// mprotect's and init_module's `length`) used to get the local: the record's own length (66 for an mmap).
@Suite struct GeneratedEncoderTests {
    static func decoded(_ record: some WireEncodable) throws -> EventRecord {
        var w = ByteWriter()
        try record.encode(into: &w)
        var enc = BatchEncoder()
        try enc.append(record: w.bytes)
        let header = BatchHeader(sequence: 1, bootTimeUnixNs: 0, sensorID: .zero, bootID: .zero, hostname: "h", sensorVersion: "t")
        return try #require(try BatchDecoder.decode(try enc.finish(header: header)).records.first)
    }

    @Test(arguments: [0, 4096, 0x1122_3344_5566_7788, UInt64.max] as [UInt64])
    func aFieldNamedLengthKeepsItsValue(_ v: UInt64) throws {
        #expect(try MmapEvent(Self.decoded(MmapEvent(pid: 1, tid: 1, ts: 1, addr: 2, length: v, prot: 3, fdpath: [0x61]))).length == v)
        #expect(try MprotectEvent(Self.decoded(MprotectEvent(pid: 1, tid: 1, ts: 1, addr: 2, length: v, prot: 3))).length == v)
        #expect(try InitModuleEvent(Self.decoded(InitModuleEvent(pid: 1, tid: 1, ts: 1, length: v, uargs: [0x61]))).length == v)
    }
}
