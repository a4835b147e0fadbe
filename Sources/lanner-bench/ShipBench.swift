import Foundation
import Glibc
import LannerCLIKit
import LannerHTTP2
import LannerSensorAgent
import LannerWire

/// `lanner-bench ship`: how many events per second one sensor's userspace path ships with zero drops. A synthetic
/// source cycles a capture's records through the sensor's own parts (Batcher → zstd → Spool → Uploader over h2c) to
/// a collector: an in-process sink that decodes every batch (decompression and validation included) and
/// acknowledges it as the collector does, or a real `lanner-collector serve`.
///
/// `--rate 0` (default) offers records as fast as the spool takes them and waits (never drops) when more than half
/// of it is unacknowledged: the rate it reaches is the most the path sustains with zero drops. `--rate N` offers
/// N events/s and reports what was dropped.
enum ShipBench {
    /// The sink: decodes (as the collector's event loop does) and answers like the collector.
    final class Sink: @unchecked Sendable {
        let server: H2Server
        private let lock = NSLock()
        private var _events = 0
        private var _batches = 0
        private var _errors = 0
        var events: Int { lock.lock(); defer { lock.unlock() }; return _events }
        var errors: Int { lock.lock(); defer { lock.unlock() }; return _errors }

        init() throws {
            let box = Box()
            let interest = Interest(events: EventType.allCases.filter(\.fromKernel).map(\.rawValue)).json
            nonisolated(unsafe) let decompressor = Zstd.Decompressor()   // the server's one loop thread uses it
            server = try H2Server(host: "127.0.0.1", port: 0) { req, respond in
                do {
                    let b = try BatchDecoder.decode(req.body, decompressor: decompressor)
                    box.sink?.count(b.records.count)
                    respond(H2Response(status: 200, headers: [("content-type", "application/json")], body: Array(
                        "{\"sequence\":\(b.header.sequence),\"status\":\"committed\",\"events\":\(b.records.count),\"alerts\":0,\"interest\":\(interest)}".utf8)))
                } catch {
                    box.sink?.failed()
                    respond(H2Response(status: 400, body: Array("{\"error\":\"\(error)\"}".utf8)))
                }
            }
            box.sink = self
            try server.start()
        }

        func count(_ n: Int) { lock.lock(); _events += n; _batches += 1; lock.unlock() }
        func failed() { lock.lock(); _errors += 1; lock.unlock() }
        final class Box: @unchecked Sendable { weak var sink: Sink? }
    }

    static func run(_ cmd: ParsedCommand) throws {
        guard let path = cmd.value("capture") else { fail("--capture FILE is required") }
        let seconds = Double(try cmd.int("seconds", default: 10, in: 1...3600))
        let rate = try cmd.int("rate", default: 0)
        let batchBytes = try cmd.int("batch-kb", default: 256, in: 4...8192, unit: "KiB") << 10
        let spoolBytes = try cmd.int("spool-mb", default: 64, in: 1...65_536, unit: "MiB") << 20
        let compress = !cmd.flag("no-compress")
        // The records back to back in one buffer, as the ring buffer hands them to the sensor.
        let loaded = try BenchRecords.load(path, excludingComms: Set(cmd.all("exclude-comm"))).records
        var flat: [UInt8] = []
        var offsets: [Int] = []
        for r in loaded { offsets.append(flat.count); flat += r }
        offsets.append(flat.count)
        let count = loaded.count

        var sink: Sink?
        let endpoint: CollectorEndpoint
        var token = "bench"
        if let url = cmd.value("collector") {
            guard let e = CollectorEndpoint(url: url) else { fail("--collector \(url) is not http://HOST:PORT") }
            endpoint = e
            token = try BearerToken.read(file: cmd.value("token-file")).token
        } else {
            sink = try Sink()
            endpoint = CollectorEndpoint(url: "http://127.0.0.1:\(sink!.server.boundPort)")!
        }
        let spool = try Spool(memoryBytes: spoolBytes)
        let uploader = Uploader(endpoint: endpoint, token: token, spool: spool, log: { FileHandle.standardError.write(Data(("lanner-bench: " + $0 + "\n").utf8)) })
        let upload = Thread { uploader.run() }
        upload.name = "lanner-upload"
        upload.start()

        // The producer: this thread, as the sensor's capture thread (Agent.run's emit: compress, then spool).
        var batcher = Batcher(identity: BenchRecords.identity, sensorVersion: "0.1.0", maxBytes: batchBytes, firstSequence: UInt64(getpid()) << 32 | 1)
        let compressor = Zstd.Compressor(level: 3)
        var produced = 0
        var waits = 0
        var maxPendingBatches = 0, maxPendingBytes = 0
        var wireBytes = 0
        let cpu0 = cpuSeconds(), proc0 = processCPUSeconds()
        let start = Date()
        let end = start.addingTimeInterval(seconds)
        var i = 0
        func emit(_ f: Batcher.Finished) {
            var f = f
            if compress, let p = BatchCompression.compress(f.body, with: compressor) { f.body = p }
            wireBytes += f.body.count
            if rate == 0 {
                while spool.pending.bytes > spoolBytes / 2 { waits += 1; usleep(200) }
            }
            spool.push(f)
            let p = spool.pending
            maxPendingBatches = max(maxPendingBatches, p.batches)
            maxPendingBytes = max(maxPendingBytes, p.bytes)
        }
        flat.withUnsafeBytes { all in
            func add() {
                let r = UnsafeRawBufferPointer(rebasing: all[offsets[i]..<offsets[i + 1]])
                if let f = batcher.add(r, counters: .init(userDrops: spool.droppedEvents)) { emit(f) }
                i = i + 1 == count ? 0 : i + 1
            }
            if rate == 0 {
                while Date() < end {
                    for _ in 0..<4096 { add() }
                    produced += 4096
                }
            } else {
                // Paced: every millisecond, catch up to the events due by now.
                while true {
                    let now = Date()
                    if now >= end { break }
                    let due = Int(now.timeIntervalSince(start) * Double(rate))
                    while produced < due { add(); produced += 1 }
                    usleep(1000)
                }
            }
        }
        if let f = batcher.finish(counters: .init(userDrops: spool.droppedEvents)) { emit(f) }
        let produceCPU = cpuSeconds() - cpu0
        let produceWall = Date().timeIntervalSince(start)
        let backlogAtEnd = spool.pending
        spool.close()
        uploader.finish(by: Date().addingTimeInterval(120))
        while !upload.isFinished { Thread.sleep(forTimeInterval: 0.005) }
        let wall = Date().timeIntervalSince(start)
        let drain = wall - produceWall
        let procCPU = processCPUSeconds() - proc0
        let shipped = Int(uploader.shippedEvents)
        let dropped = Int(spool.droppedEvents)
        let perSecond = Double(shipped) / wall
        let collector = cmd.value("collector") ?? "in-process sink"
        if cmd.flag("json") {
            print("{\"benchmark\":\"ship\",\"capture\":\"\(path)\",\"collector\":\"\(collector)\",\"compress\":\(compress),"
                  + "\"rate_offered\":\(rate),\"produced\":\(produced),\"shipped\":\(shipped),\"dropped\":\(dropped),"
                  + "\"received_by_sink\":\(sink?.events ?? -1),\"sink_errors\":\(sink?.errors ?? 0),\"produce_seconds\":\(produceWall),"
                  + "\"wall_seconds\":\(wall),\"drain_seconds\":\(drain),\"events_per_second\":\(Int(perSecond)),"
                  + "\"wire_bytes_per_event\":\(Double(wireBytes) / Double(max(produced, 1))),"
                  + "\"max_pending_batches\":\(maxPendingBatches),\"max_pending_bytes\":\(maxPendingBytes),"
                  + "\"pending_batches_at_end\":\(backlogAtEnd.batches),\"producer_cpu_seconds\":\(produceCPU),"
                  + "\"process_cpu_seconds\":\(procCPU),\"batches\":\(uploader.shippedBatches),\"producer_waits\":\(waits)}")
        } else {
            print("source: \(count) recorded events cycled; batches of \(batchBytes >> 10) KiB, \(compress ? "zstd 3" : "uncompressed"), "
                  + "spool \(spoolBytes >> 20) MiB; collector: \(cmd.value("collector") ?? "in-process sink (decode + acknowledge)")")
            print("offered: \(rate == 0 ? "as fast as the spool takes (waits instead of drops)" : "\(rate) events/s") for \(String(format: "%.1f", produceWall)) s")
            print("shipped \(shipped) of \(produced) events in \(uploader.shippedBatches) batches, \(String(format: "%.1f", wall)) s: "
                  + "\(Int(perSecond)) events/s; dropped \(dropped)" + (sink.map { "; sink decoded \($0.events), errors \($0.errors)" } ?? ""))
            print("backlog: at most \(maxPendingBatches) batches (\(maxPendingBytes >> 10) KiB) unacknowledged; \(backlogAtEnd.batches) when production "
                  + "stopped, acknowledged \(String(format: "%.2f", drain)) s later; \(String(format: "%.2f", Double(wireBytes) / Double(max(produced, 1)))) B/event sent")
            print("CPU: producer (Batcher + zstd + spool) \(String(format: "%.2f", produceCPU)) s = \(String(format: "%.0f", produceCPU / Double(max(produced, 1)) * 1e9)) ns/event; "
                  + "whole process \(String(format: "%.2f", procCPU)) s" + (rate == 0 ? "; producer waited \(waits)×200 µs for the spool" : ""))
        }
    }
}
