import Foundation
import Glibc
import LannerCLIKit
import LannerSensorAgent
import LannerWire

/// The records of a capture, in order, as raw wire records (what the kernel hands the sensor).
enum BenchRecords {
    static func load(_ path: String) throws -> (records: [[UInt8]], recordedBatches: [[UInt8]]) {
        guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
        let batches = try Capture.batches([UInt8](data))
        var records: [[UInt8]] = []
        for (b, _) in batches {
            for r in b.records { records.append(Array(r.storage[r.start..<(r.start + r.length)])) }
        }
        return (records, batches.map { $0.batch.body })
    }

    static let identity = SensorIdentity(sensorID: ID128(hex: "be4c0000000040008000000000000001")!, bootID: ID128(hex: "be4c0000000040008000000000000002")!,
                                         bootTimeUnixNs: 1_796_000_000_000_000_000, hostname: "bench-host")

    /// Re-batches `records` exactly as the sensor's Batcher does at `batchBytes`.
    static func batches(_ records: [[UInt8]], batchBytes: Int) -> [Batcher.Finished] {
        var b = Batcher(identity: identity, sensorVersion: "0.1.0", maxBytes: batchBytes, firstSequence: 1 << 32 | 1)
        var out: [Batcher.Finished] = []
        for r in records {
            r.withUnsafeBytes { raw in if let f = b.add(raw, kernelDrops: 0, userDrops: 0) { out.append(f) } }
        }
        if let f = b.finish(kernelDrops: 0, userDrops: 0) { out.append(f) }
        return out
    }
}

/// `lanner-bench wire`: bytes per event on the wire for a recorded mix, at the sensor's batch size, uncompressed and
/// at several zstd levels, with the sensor's compression CPU and the collector's decode CPU per event.
enum WireBench {
    struct Row {
        var name: String
        var batches: Int
        var bytes: Int
        var compressNsPerEvent: Double
        var decodeNsPerEvent: Double
    }

    static func run(_ cmd: ParsedCommand) throws {
        guard let path = cmd.value("capture") else { fail("--capture FILE is required") }
        let batchBytes = try cmd.int("batch-kb", default: 256, in: 4...8192, unit: "KiB") << 10
        let levels = (cmd.value("levels") ?? "1,3,6,9,19").split(separator: ",").compactMap { Int32($0) }
        let (records, recorded) = try BenchRecords.load(path)
        let events = records.count
        let batches = BenchRecords.batches(records, batchBytes: batchBytes)
        let recordBytes = records.reduce(0) { $0 + $1.count }

        func decodeNs(_ bodies: [[UInt8]]) throws -> Double {
            let start = cpuSeconds()
            var n = 0
            for b in bodies { n += try BatchDecoder.decode(b).records.count }
            precondition(n == events)
            return (cpuSeconds() - start) * 1e9 / Double(events)
        }

        var rows: [Row] = []
        let plain = batches.map(\.body)
        rows.append(Row(name: "uncompressed", batches: plain.count, bytes: plain.reduce(0) { $0 + $1.count }, compressNsPerEvent: 0,
                        decodeNsPerEvent: try decodeNs(plain)))
        for level in levels {
            let c = Zstd.Compressor(level: level)
            let start = cpuSeconds()
            let packed = plain.map { BatchCompression.compress($0, with: c) ?? $0 }
            let cns = (cpuSeconds() - start) * 1e9 / Double(events)
            rows.append(Row(name: "zstd \(level)", batches: packed.count, bytes: packed.reduce(0) { $0 + $1.count }, compressNsPerEvent: cns,
                            decodeNsPerEvent: try decodeNs(packed)))
        }
        // The batches as they were recorded (cut by the flush timer, 100 ms in bench/record-mix.sh), at level 3.
        let c3 = Zstd.Compressor(level: 3)
        let recordedPlain = recorded.map { body -> [UInt8] in (try? BatchCompression.uncompressed(body)) ?? body }
        let start = cpuSeconds()
        let recordedPacked = recordedPlain.map { BatchCompression.compress($0, with: c3) ?? $0 }
        let rcns = (cpuSeconds() - start) * 1e9 / Double(events)
        let recordedRow = Row(name: "zstd 3, batches as recorded (flush timer)", batches: recordedPacked.count,
                              bytes: recordedPacked.reduce(0) { $0 + $1.count }, compressNsPerEvent: rcns, decodeNsPerEvent: try decodeNs(recordedPacked))

        if cmd.flag("json") {
            let items = (rows + [recordedRow]).map { r in
                "{\"config\":\"\(r.name)\",\"batches\":\(r.batches),\"bytes\":\(r.bytes),\"bytes_per_event\":\(Double(r.bytes) / Double(events)),"
                    + "\"compress_ns_per_event\":\(r.compressNsPerEvent),\"decode_ns_per_event\":\(r.decodeNsPerEvent)}"
            }
            print("{\"benchmark\":\"wire\",\"capture\":\"\(path)\",\"events\":\(events),\"record_bytes\":\(recordBytes),\"batch_bytes\":\(batchBytes),"
                  + "\"zstd_version\":\(Zstd.libraryVersion),\"results\":[\(items.joined(separator: ","))]}")
            return
        }
        print("capture: \(events) events, \(recordBytes) bytes of records (\(String(format: "%.1f", Double(recordBytes) / Double(events))) B/event); "
              + "batches of \(batchBytes >> 10) KiB; libzstd \(Zstd.libraryVersion)")
        print("config".padding(toLength: 44, withPad: " ", startingAt: 0) + "batches   bytes       B/event  compress ns/ev  decode ns/ev")
        for r in rows + [recordedRow] {
            print(r.name.padding(toLength: 44, withPad: " ", startingAt: 0)
                  + String(r.batches).padding(toLength: 10, withPad: " ", startingAt: 0)
                  + String(r.bytes).padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: "%-9.2f", Double(r.bytes) / Double(events))
                  + String(format: "%-16.1f", r.compressNsPerEvent) + String(format: "%.1f", r.decodeNsPerEvent))
        }
    }
}
