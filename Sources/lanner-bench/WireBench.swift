import Foundation
import Glibc
import LannerCLIKit
import LannerSensorAgent
import LannerWire

/// The records of a capture, in order, as raw wire records (what the kernel hands the sensor).
enum BenchRecords {
    struct Loaded {
        var records: [[UInt8]]
        /// The batches as the sensor shipped them (compressed or not).
        var shipped: [[UInt8]]
        /// The same batches in uncompressed form (flag bit 0 clear).
        var plain: [[UInt8]]
        /// The capture file's size, and its size without whole-file zstd (header + framed batches).
        var fileBytes: Int
        var plainFileBytes: Int
    }

    /// - Parameter excludingComms: processes to leave out, by name (comm): their records are removed and every batch
    ///   is re-encoded without them as the sensor would have shipped it (same header, zstd level 3 when the original
    ///   was compressed; a batch left empty is not shipped). For another program's synthetic syscall loop that ran
    ///   on the machine while a mix was recorded.
    static func load(_ path: String, excludingComms: Set<String> = []) throws -> Loaded {
        guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
        var batches = try Capture.batches([UInt8](data)).map { (batch: $0.batch, body: $0.body) }
        if !excludingComms.isEmpty { batches = try exclude(excludingComms, from: batches) }
        var records: [[UInt8]] = []
        for (b, _) in batches {
            for r in b.records { records.append(Array(r.storage[r.start..<(r.start + r.length)])) }
        }
        let shipped = batches.map(\.body)
        let plain = try shipped.map { try BatchCompression.uncompressed($0) }
        let plainFile = Capture.fileHeaderSize + shipped.reduce(0) { $0 + 4 + $1.count }
        return Loaded(records: records, shipped: shipped, plain: plain, fileBytes: excludingComms.isEmpty ? data.count : plainFile,
                      plainFileBytes: plainFile)
    }

    /// The batches without the records of processes named in `comms` (a process's name comes from its exec or
    /// snapshot record; a forked child inherits its parent's).
    static func exclude(_ comms: Set<String>, from batches: [(batch: Batch, body: [UInt8])]) throws -> [(batch: Batch, body: [UInt8])] {
        var name: [UInt32: String] = [:]
        let compressor = Zstd.Compressor(level: 3)
        var out: [(batch: Batch, body: [UInt8])] = []
        for (b, _) in batches {
            var enc = BatchEncoder()
            for r in b.records {
                switch r.eventType {
                case .execve?, .execveat?, .procinfo?:
                    if let e = try? ExecveEvent(r), e.res == 0 { name[r.pid] = String(decoding: e.comm, as: UTF8.self) }
                case .clone?, .clone3?, .fork?, .vfork?:
                    if let c = try? CloneEvent(r), c.childPid != r.pid, let n = name[r.pid] { name[c.childPid] = n }
                default: break
                }
                if let n = name[r.pid], comms.contains(n) { continue }
                try enc.append(record: Array(r.storage[r.start..<(r.start + r.length)]))
            }
            guard enc.eventCount > 0 || b.records.isEmpty else { continue }
            var h = b.header
            h.flags = 0
            var fresh = try enc.finish(header: h)
            if b.header.isCompressed, let packed = BatchCompression.compress(fresh, with: compressor) { fresh = packed }
            out.append((try BatchDecoder.decode(fresh), fresh))
        }
        return out
    }

    static let identity = SensorIdentity(sensorID: ID128(hex: "be4c0000000040008000000000000001")!, bootID: ID128(hex: "be4c0000000040008000000000000002")!,
                                         bootTimeUnixNs: 1_796_000_000_000_000_000, hostname: "bench-host")

    /// Re-batches `records` exactly as the sensor's Batcher does at `batchBytes`.
    static func batches(_ records: [[UInt8]], batchBytes: Int) -> [Batcher.Finished] {
        var b = Batcher(identity: identity, sensorVersion: "0.1.0", maxBytes: batchBytes, firstSequence: 1 << 32 | 1)
        var out: [Batcher.Finished] = []
        for r in records {
            r.withUnsafeBytes { raw in if let f = b.add(raw) { out.append(f) } }
        }
        if let f = b.finish() { out.append(f) }
        return out
    }
}

/// `lanner-bench wire`: bytes per event on the wire and in capture files for a recorded mix: the batches as the sensor
/// shipped them (its batch boundaries: 256 KiB or the 200 ms flush, whichever came first), those boundaries re-encoded
/// uncompressed and at several zstd levels, and the records re-batched into full batches (a busy host), with the
/// sensor's compression CPU and the collector's decode CPU per event.
enum WireBench {
    struct Row {
        var name: String
        var batches: Int
        var bytes: Int
        var compressNsPerEvent: Double?
        var decodeNsPerEvent: Double
    }

    static func run(_ cmd: ParsedCommand) throws {
        guard let path = cmd.value("capture") else { fail("--capture FILE is required") }
        let batchBytes = try cmd.int("batch-kb", default: 256, in: 4...8192, unit: "KiB") << 10
        let levels = (cmd.value("levels") ?? "1,3,6,9,19").split(separator: ",").compactMap { Int32($0) }
        let loaded = try BenchRecords.load(path, excludingComms: Set(cmd.all("exclude-comm")))
        if let out = cmd.value("write") {
            var file = Capture.fileHeader()
            for b in loaded.shipped { file += Capture.frame(b) }
            guard FileManager.default.createFile(atPath: out, contents: Data(file)) else { fail("cannot write \(out)") }
        }
        let records = loaded.records
        let events = records.count
        let recordBytes = records.reduce(0) { $0 + $1.count }
        let full = BenchRecords.batches(records, batchBytes: batchBytes).map(\.body)

        let decompressor = Zstd.Decompressor()   // one per thread, as the collector's event loop has
        func decodeNs(_ bodies: [[UInt8]]) throws -> Double {
            let start = cpuSeconds()
            var n = 0
            for b in bodies { n += try BatchDecoder.decode(b, decompressor: decompressor).records.count }
            precondition(n == events, "decoded \(n) events, expected \(events)")
            return (cpuSeconds() - start) * 1e9 / Double(events)
        }
        func rows(_ label: String, _ plain: [[UInt8]]) throws -> [Row] {
            var out = [Row(name: "\(label), uncompressed", batches: plain.count, bytes: plain.reduce(0) { $0 + $1.count },
                           compressNsPerEvent: nil, decodeNsPerEvent: try decodeNs(plain))]
            for level in levels {
                let c = Zstd.Compressor(level: level)
                let start = cpuSeconds()
                let packed = plain.map { BatchCompression.compress($0, with: c) ?? $0 }
                let cns = (cpuSeconds() - start) * 1e9 / Double(events)
                out.append(Row(name: "\(label), zstd \(level)", batches: packed.count, bytes: packed.reduce(0) { $0 + $1.count },
                               compressNsPerEvent: cns, decodeNsPerEvent: try decodeNs(packed)))
            }
            return out
        }

        let shippedRow = Row(name: "as shipped (the capture's batches)", batches: loaded.shipped.count,
                             bytes: loaded.shipped.reduce(0) { $0 + $1.count }, compressNsPerEvent: nil,
                             decodeNsPerEvent: try decodeNs(loaded.shipped))
        let all = [shippedRow] + (try rows("shipped boundaries", loaded.plain)) + (try rows("full \(batchBytes >> 10) KiB batches", full))
        let perBatch = eventsPerBatch(loaded.plain)
        let buckets = sizeBuckets(loaded.shipped)
        let types = typeMix(records)
        var perPid: [UInt32: Int] = [:]
        for r in records { perPid[UInt32(r[4]) | UInt32(r[5]) << 8 | UInt32(r[6]) << 16 | UInt32(r[7]) << 24, default: 0] += 1 }
        let busiest = perPid.values.sorted(by: >).prefix(3).map { String(format: "%.1f%%", Double($0) * 100 / Double(events)) }

        if cmd.flag("json") {
            let items = all.map { r in
                "{\"config\":\"\(r.name)\",\"batches\":\(r.batches),\"bytes\":\(r.bytes),\"bytes_per_event\":\(Double(r.bytes) / Double(events)),"
                    + "\"compress_ns_per_event\":\(r.compressNsPerEvent.map { "\($0)" } ?? "null"),\"decode_ns_per_event\":\(r.decodeNsPerEvent)}"
            }
            print("{\"benchmark\":\"wire\",\"capture\":\"\(path)\",\"events\":\(events),\"record_bytes\":\(recordBytes),\"batch_bytes\":\(batchBytes),"
                  + "\"capture_file_bytes\":\(loaded.plainFileBytes),\"capture_file_bytes_per_event\":\(Double(loaded.plainFileBytes) / Double(events)),"
                  + "\"input_file_bytes\":\(loaded.fileBytes),\"events_per_batch_median\":\(perBatch.median),"
                  + "\"shipped_by_batch_size\":[\(buckets.map { "{\"events_per_batch\":\"\($0.label)\",\"batches\":\($0.batches),\"events\":\($0.events),\"bytes\":\($0.bytes)}" }.joined(separator: ","))],"
                  + "\"event_types\":[\(types.map { "{\"type\":\"\($0.name)\",\"events\":\($0.events),\"record_bytes\":\($0.bytes)}" }.joined(separator: ","))],"
                  + "\"zstd_version\":\(Zstd.libraryVersion),\"results\":[\(items.joined(separator: ","))]}")
            return
        }
        print("capture: \(events) events in \(loaded.shipped.count) batches (median \(perBatch.median) events/batch, \(perBatch.empty) empty), "
              + "\(recordBytes) bytes of records (\(String(format: "%.1f", Double(recordBytes) / Double(events))) B/event); libzstd \(Zstd.libraryVersion)")
        print("capture file as lanner-sensor -w wrote it: \(loaded.plainFileBytes) bytes = "
              + "\(String(format: "%.2f", Double(loaded.plainFileBytes) / Double(events))) B/event"
              + (loaded.fileBytes != loaded.plainFileBytes
                 ? "; this file (whole-file zstd): \(loaded.fileBytes) bytes = \(String(format: "%.2f", Double(loaded.fileBytes) / Double(events))) B/event" : ""))
        print("event types (share of events, record bytes): " + types.prefix(12).map { t in
            "\(t.name) \(String(format: "%.1f%%", Double(t.events) * 100 / Double(events))) (\(t.bytes / t.events) B)"
        }.joined(separator: ", ") + (types.count > 12 ? ", \(types.count - 12) more types" : ""))
        print("processes: \(perPid.count) pids; the busiest three have \(busiest.joined(separator: ", ")) of the events")
        print("as shipped, by events per batch: " + buckets.map { b in
            "\(b.label): \(b.batches) batches, \(b.events) events" + (b.events > 0 ? String(format: ", %.1f B/event", Double(b.bytes) / Double(b.events)) : ", \(b.bytes) bytes")
        }.joined(separator: "; "))
        print("config".padding(toLength: 44, withPad: " ", startingAt: 0) + "batches   bytes       B/event  compress ns/ev  decode ns/ev")
        for r in all {
            print(r.name.padding(toLength: 44, withPad: " ", startingAt: 0)
                  + String(r.batches).padding(toLength: 10, withPad: " ", startingAt: 0)
                  + String(r.bytes).padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: "%-9.2f", Double(r.bytes) / Double(events))
                  + (r.compressNsPerEvent.map { String(format: "%-16.1f", $0) } ?? "-".padding(toLength: 16, withPad: " ", startingAt: 0))
                  + String(format: "%.1f", r.decodeNsPerEvent))
        }
    }

    /// Events and record bytes per event type, most frequent first.
    static func typeMix(_ records: [[UInt8]]) -> [(name: String, events: Int, bytes: Int)] {
        var by: [UInt16: (Int, Int)] = [:]
        for r in records {
            let t = UInt16(r[2]) | UInt16(r[3]) << 8
            by[t, default: (0, 0)].0 += 1
            by[t, default: (0, 0)].1 += r.count
        }
        return by.map { (EventType(rawValue: $0.key)?.name ?? "#\($0.key)", $0.value.0, $0.value.1) }.sorted { $0.events > $1.events }
    }

    struct Bucket { var label: String; var batches = 0; var events = 0; var bytes = 0 }

    /// The shipped batches grouped by how many events they carry: a quiet host's 200 ms flushes carry few events, and
    /// the batch header (~110 bytes) and a small zstd frame weigh more per event.
    static func sizeBuckets(_ shipped: [[UInt8]]) -> [Bucket] {
        let bounds = [(0, 0, "0 (heartbeat)"), (1, 15, "1-15"), (16, 63, "16-63"), (64, 255, "64-255"), (256, 1023, "256-1023"),
                      (1024, Int.max, ">= 1024")]
        var out = bounds.map { Bucket(label: $0.2) }
        for b in shipped {
            let n = Int(b[48]) | Int(b[49]) << 8 | Int(b[50]) << 16 | Int(b[51]) << 24
            let i = bounds.firstIndex { n >= $0.0 && n <= $0.1 }!
            out[i].batches += 1
            out[i].events += n
            out[i].bytes += b.count
        }
        return out.filter { $0.batches > 0 }
    }

    static func eventsPerBatch(_ bodies: [[UInt8]]) -> (median: Int, empty: Int) {
        let counts = bodies.map { b in Int(b[48]) | Int(b[49]) << 8 | Int(b[50]) << 16 | Int(b[51]) << 24 }.sorted()
        return (counts.isEmpty ? 0 : counts[counts.count / 2], counts.filter { $0 == 0 }.count)
    }
}
