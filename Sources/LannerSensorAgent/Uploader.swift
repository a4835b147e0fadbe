import FoundationEssentials
import Glibc
import LannerCore
import LannerHTTP2
import LannerWire

/// Sends spooled batches to the collector over one h2c connection, reconnecting with exponential backoff.
/// A batch leaves the spool only when the collector answered 200 (committed or duplicate); 4xx answers other
/// than 401 mean the batch itself is bad and it is dropped with a log line (its events are counted in
/// `rejectedEvents`, which the agent reports as user drops); 401 and 5xx are retried.
///
/// Every 200 carries the collector's interest set (`CollectorAck`), handed to `onAck`. A 400 saying the batch
/// flags are not supported (a collector older than compressed batches) makes the uploader send that batch and
/// every later one in uncompressed form, and calls `onCompressionRefused` once.
public final class Uploader: @unchecked Sendable {
    public let endpoint: CollectorEndpoint
    let token: String
    let spool: Spool
    let log: @Sendable (String) -> Void
    private let lock = PosixLock()
    private var _shippedEvents: UInt64 = 0
    private var _shippedBatches = 0
    private var _rejectedEvents: UInt64 = 0
    private var _reconnects = 0
    private var stopAt: Date?
    private var sendUncompressed = false
    private var lastAckProblem: Date?
    /// Called on the upload thread with every acknowledgement that could be read.
    public var onAck: (@Sendable (CollectorAck) -> Void)?
    /// Called once when the collector refuses compressed batches.
    public var onCompressionRefused: (@Sendable () -> Void)?
    /// Called on the upload thread when a connection that had carried batches failed (the collector may have lost
    /// its state for this sensor); whatever it pushes to the spool's front goes first after the reconnect.
    public var onConnectionLost: (@Sendable () -> Void)?

    public init(endpoint: CollectorEndpoint, token: String, spool: Spool, log: @escaping @Sendable (String) -> Void) {
        self.endpoint = endpoint
        self.token = token
        self.spool = spool
        self.log = log
    }

    public var shippedEvents: UInt64 { lock.lock(); defer { lock.unlock() }; return _shippedEvents }
    public var shippedBatches: Int { lock.lock(); defer { lock.unlock() }; return _shippedBatches }
    public var rejectedEvents: UInt64 { lock.lock(); defer { lock.unlock() }; return _rejectedEvents }
    /// Times a connection was established again after a failure.
    public var reconnects: Int { lock.lock(); defer { lock.unlock() }; return _reconnects }

    /// Gives up retrying at `deadline` once the spool is closed (shutdown).
    public func finish(by deadline: Date) {
        lock.lock()
        stopAt = deadline
        lock.unlock()
    }

    /// 30 s, or what is left before the shutdown deadline (at least 200 ms).
    var requestTimeoutMs: Int {
        lock.lock()
        defer { lock.unlock() }
        guard let stopAt else { return 30_000 }
        return max(200, min(30_000, Int(stopAt.timeIntervalSinceNow * 1000)))
    }

    var pastDeadline: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopAt.map { Date() >= $0 } ?? false
    }

    /// The bytes to send for `batch`: as spooled, or uncompressed for a collector that refuses compression.
    func wireBody(_ batch: Batcher.Finished) -> [UInt8] {
        guard sendUncompressed, batch.body.count > 12, batch.body[12] & UInt8(BatchHeader.zstdRecords) != 0 else { return batch.body }
        return (try? BatchCompression.uncompressed(batch.body)) ?? batch.body
    }

    /// Runs until the spool is closed and empty (or the shutdown deadline passes).
    public func run() {
        var client: H2Client?
        var backoff = 0.1
        var announcedDown = false
        var carried = false   // the current connection has carried at least one batch
        while true {
            guard let batch = spool.peek(timeout: 0.5) else {
                if spool.isClosed { break }
                continue
            }
            if pastDeadline { break }
            do {
                if client == nil || !(client!.isOpen) {
                    client = try H2Client(host: endpoint.host, port: endpoint.port, connectTimeout: .seconds(3))
                    carried = false
                    if announcedDown {
                        log("lanner-sensor: reconnected to \(endpoint)")
                        lock.lock()
                        _reconnects += 1
                        lock.unlock()
                    }
                    announcedDown = false
                }
                let resp = try client!.request(method: "POST", path: "/v1/batches", headers: [
                    ("authorization", "Bearer " + token), ("content-type", "application/x-lanner-batch"),
                ], body: wireBody(batch), timeout: .milliseconds(requestTimeoutMs))
                carried = true
                switch resp.status {
                case 200:
                    spool.acknowledge(batch.sequence)
                    lock.lock()
                    _shippedEvents += UInt64(batch.events)
                    _shippedBatches += 1
                    lock.unlock()
                    backoff = 0.1
                    handleAck(resp.body)
                    continue
                case 401:
                    log("lanner-sensor: collector refused the token (401); check --token-file; retrying in \(Int(backoff))s")
                case 400 where !sendUncompressed && batch.body.count > 12 && batch.body[12] & UInt8(BatchHeader.zstdRecords) != 0
                    && String(decoding: resp.body, as: UTF8.self).contains("flags"):
                    log("lanner-sensor: the collector does not accept compressed batches (\(String(decoding: resp.body, as: UTF8.self))); "
                        + "sending uncompressed from now on")
                    sendUncompressed = true
                    onCompressionRefused?()
                    continue
                case 400, 413:
                    let reason = String(decoding: resp.body, as: UTF8.self)
                    log("lanner-sensor: collector rejected batch \(batch.sequence) (\(resp.status)): \(reason); dropping it "
                        + "(\(batch.events) events, reported as sensor drops)")
                    spool.acknowledge(batch.sequence)
                    lock.lock()
                    _rejectedEvents += UInt64(batch.events)
                    lock.unlock()
                    continue
                default:
                    log("lanner-sensor: collector answered \(resp.status) to batch \(batch.sequence); retrying")
                }
            } catch {
                if !announcedDown { log("lanner-sensor: cannot reach collector at \(endpoint): \(error); retrying with backoff") }
                announcedDown = true
                client?.close()
                client = nil
                if carried {
                    carried = false
                    onConnectionLost?()
                }
            }
            // Back off, but notice a shutdown deadline while waiting.
            let wake = Date().addingTimeInterval(backoff)
            while Date() < wake && !pastDeadline { usleep(UInt32(min(0.05, backoff) * 1e6)) }
            backoff = min(backoff * 2, 5)
        }
        client?.close()
    }

    func handleAck(_ body: [UInt8]) {
        do {
            let ack = try CollectorAck.parse(body)
            onAck?(ack)
        } catch {
            // Stored all the same (200); only the interest it may carry is lost. Once a minute at most.
            if lastAckProblem.map({ Date().timeIntervalSince($0) >= 60 }) ?? true {
                lastAckProblem = Date()
                log("lanner-sensor: cannot read the collector's acknowledgement: \(error)")
            }
        }
    }
}
