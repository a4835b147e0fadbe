import Foundation
import LannerHTTP2

/// Where batches go.
public struct CollectorEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    /// Parses `http://HOST:PORT` (h2c; TLS is not in this version).
    public init?(url: String) {
        guard url.hasPrefix("http://") else { return nil }
        var rest = Substring(url.dropFirst(7))
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]), port > 0 else { return nil }
        host = String(rest[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !host.isEmpty else { return nil }
        self.port = port
    }

    public var description: String { "http://\(host):\(port)" }
}

/// A bounded in-memory spool of finished batches, sent in order and kept until the collector acknowledges
/// them. When full, new batches are refused and counted as dropped (reported in later batch headers).
public final class Spool: @unchecked Sendable {
    private var batches: [Batcher.Finished] = []
    private var bytes = 0
    public let maxBytes: Int
    private let cond = NSCondition()
    private var closed = false
    public private(set) var droppedEvents: UInt64 = 0
    public private(set) var droppedBatches = 0

    public init(maxBytes: Int) { self.maxBytes = maxBytes }

    /// Queues a batch; false (and counted) when the spool is full.
    @discardableResult
    public func push(_ b: Batcher.Finished) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        if bytes + b.body.count > maxBytes && !batches.isEmpty {
            droppedEvents += UInt64(b.events)
            droppedBatches += 1
            return false
        }
        batches.append(b)
        bytes += b.body.count
        cond.signal()
        return true
    }

    /// The oldest unacknowledged batch, waiting up to `timeout`; nil on timeout or when closed and empty.
    public func peek(timeout: TimeInterval) -> Batcher.Finished? {
        cond.lock()
        defer { cond.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while batches.isEmpty {
            if closed { return nil }
            if !cond.wait(until: deadline) { return nil }
        }
        return batches.first
    }

    /// Removes the oldest batch after the collector acknowledged it.
    public func acknowledge(_ sequence: UInt64) {
        cond.lock()
        if let first = batches.first, first.sequence == sequence {
            batches.removeFirst()
            bytes -= first.body.count
        }
        cond.unlock()
    }

    public var pending: (batches: Int, bytes: Int) {
        cond.lock()
        defer { cond.unlock() }
        return (batches.count, bytes)
    }

    public var isClosed: Bool {
        cond.lock()
        defer { cond.unlock() }
        return closed
    }

    /// No more pushes; `peek` returns what is left, then nil.
    public func close() {
        cond.lock()
        closed = true
        cond.broadcast()
        cond.unlock()
    }
}

/// Sends spooled batches to the collector over one h2c connection, reconnecting with exponential backoff.
/// A batch leaves the spool only when the collector answered 200 (committed or duplicate); 4xx answers other
/// than 401 mean the batch itself is bad and it is dropped with a log line; 401 and 5xx are retried.
public final class Uploader: @unchecked Sendable {
    public let endpoint: CollectorEndpoint
    let token: String
    let spool: Spool
    let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var _shippedEvents: UInt64 = 0
    private var _shippedBatches = 0
    private var _rejectedEvents: UInt64 = 0
    private var _lastError: String?
    private var stopAt: Date?

    public init(endpoint: CollectorEndpoint, token: String, spool: Spool, log: @escaping @Sendable (String) -> Void) {
        self.endpoint = endpoint
        self.token = token
        self.spool = spool
        self.log = log
    }

    public var shippedEvents: UInt64 { lock.lock(); defer { lock.unlock() }; return _shippedEvents }
    public var shippedBatches: Int { lock.lock(); defer { lock.unlock() }; return _shippedBatches }
    public var rejectedEvents: UInt64 { lock.lock(); defer { lock.unlock() }; return _rejectedEvents }

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

    /// Runs until the spool is closed and empty (or the shutdown deadline passes).
    public func run() {
        var client: H2Client?
        var backoff = 0.1
        var announcedDown = false
        while true {
            guard let batch = spool.peek(timeout: 0.5) else {
                if spool.isClosed { break }
                continue
            }
            if pastDeadline { break }
            do {
                if client == nil || !(client!.isOpen) {
                    client = try H2Client(host: endpoint.host, port: endpoint.port, connectTimeout: .seconds(3))
                    if announcedDown { log("lanner-sensor: reconnected to \(endpoint)") }
                    announcedDown = false
                }
                let resp = try client!.request(method: "POST", path: "/v1/batches", headers: [
                    ("authorization", "Bearer " + token), ("content-type", "application/x-lanner-batch"),
                ], body: batch.body, timeout: .milliseconds(requestTimeoutMs))
                switch resp.status {
                case 200:
                    spool.acknowledge(batch.sequence)
                    lock.lock()
                    _shippedEvents += UInt64(batch.events)
                    _shippedBatches += 1
                    lock.unlock()
                    backoff = 0.1
                    continue
                case 401:
                    log("lanner-sensor: collector refused the token (401); check --token-file; retrying in \(Int(backoff))s")
                case 400, 413:
                    let reason = String(decoding: resp.body, as: UTF8.self)
                    log("lanner-sensor: collector rejected batch \(batch.sequence) (\(resp.status)): \(reason); dropping it")
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
            }
            // Back off, but notice a shutdown deadline while waiting.
            let wake = Date().addingTimeInterval(backoff)
            while Date() < wake && !pastDeadline { Thread.sleep(forTimeInterval: min(0.05, backoff)) }
            backoff = min(backoff * 2, 5)
        }
        client?.close()
    }
}
