import LannerCore
import LannerStore
import LannerWire

/// Per-sensor counters and the "Syscall event drops" alert (pure: no I/O, no clock; one per ingest thread).
///
/// Every batch header carries the kernel and user drops (and, from 1.3, the kernel's failed reads) of the sending
/// sensor process since it started. The book
/// turns them into per-sensor deltas (a higher run epoch, `sequence >> 32`, means a restarted sensor whose
/// counters start at 0 again), keeps totals, and raises a drop alert when some drops have not been reported yet
/// and the sensor's rate limit allows: Falco's token bucket with rate 1/`dropAlertInterval` and burst 1, i.e. at
/// most one alert per interval per sensor. Drops held back by the limit are not lost: they are in the next
/// alert, whose window covers them (`tick` raises it when no batch comes). An alert's interval ("in the last N s",
/// `interval_s`) runs from the sensor's previous drop alert, or from its first batch: all the collector knows is
/// that the drops are newer than that (a batch may sit in the sensor's spool, or the sensor be stopped, for long).
///
/// Changes are proposed, then committed: `observe` returns the row to store with the batch (same transaction);
/// only after the commit succeeded does `apply` make it the book's state, so a failed commit changes nothing.
public struct SensorBook {
    public private(set) var records: [String: SensorRecord] = [:]
    /// Seconds between two drop alerts of one sensor (Falco's default is 30: rate .03333, max_burst 1).
    public var dropAlertInterval: Double
    /// Seconds after which a rate window closes (events/s).
    public static let rateWindowSeconds: Int64 = 60

    public init(records: [SensorRecord], dropAlertInterval: Double = 10) {
        for r in records { self.records[r.sensorID] = r }
        self.dropAlertInterval = dropAlertInterval
    }

    /// The alert rule's name and priority (proto/README.md, "Loss").
    public static let dropRule = "Syscall event drops"
    public static let dropPriority = Priority.critical

    /// What storing one batch would make of its sensor's row, and the drop alert to store with it, if any.
    public func observe(_ h: BatchHeader, events: Int, nowNs: Int64) -> (record: SensorRecord, alert: NewAlert?) {
        let id = h.sensorID.description
        let epoch = Int64(bitPattern: h.sequence >> 32)
        let reportedKernel = Int64(clamping: h.kernelDrops), reportedUser = Int64(clamping: h.userDrops)
        let reportedReads = Int64(clamping: h.readFailures)
        var r = records[id] ?? SensorRecord(sensorID: id, hostname: h.hostname, sensorVersion: h.sensorVersion,
                                            bootID: h.bootID.description, runEpoch: epoch, nowNs: nowNs)
        if epoch > r.runEpoch {
            // A new sensor run: its counters count from 0.
            r.runEpoch = epoch
            r.runKernelDrops = 0
            r.runUserDrops = 0
            r.runReadFailures = 0
        }
        if epoch == r.runEpoch {
            // Within a run the counters only grow; a batch sent out of order (a resync snapshot) never lowers them.
            if reportedKernel > r.runKernelDrops {
                r.kernelDrops = saturating(r.kernelDrops, reportedKernel - r.runKernelDrops)
                r.runKernelDrops = reportedKernel
            }
            if reportedUser > r.runUserDrops {
                r.userDrops = saturating(r.userDrops, reportedUser - r.runUserDrops)
                r.runUserDrops = reportedUser
            }
            if reportedReads > r.runReadFailures {
                r.readFailures = saturating(r.readFailures, reportedReads - r.runReadFailures)
                r.runReadFailures = reportedReads
            }
        }
        // (A batch of an older run arriving after a newer one — never sent that way — adds no drops.)
        r.hostname = h.hostname
        r.sensorVersion = h.sensorVersion
        r.bootID = h.bootID.description
        r.lastSeenNs = max(r.lastSeenNs, nowNs)
        r.batches += 1
        r.events += Int64(events)
        if nowNs - r.windowStartNs >= Self.rateWindowSeconds * 1_000_000_000 {
            r.rateEvents = r.windowEvents
            r.rateNs = nowNs - r.windowStartNs
            r.windowStartNs = nowNs
            r.windowEvents = Int64(events)
        } else {
            r.windowEvents += Int64(events)
        }
        let alert = dropAlert(&r, nowNs: nowNs)
        return (r, alert)
    }

    /// Drop alerts that are due without a batch (their rate limit expired since), with the rows to store.
    public func tick(nowNs: Int64) -> [(record: SensorRecord, alert: NewAlert)] {
        var out: [(SensorRecord, NewAlert)] = []
        for id in records.keys.sorted() {
            var r = records[id]!
            if let a = dropAlert(&r, nowNs: nowNs) { out.append((r, a)) }
        }
        return out
    }

    /// Makes a stored row the book's state.
    public mutating func apply(_ r: SensorRecord) { records[r.sensorID] = r }

    /// Raises the alert when drops are unreported and the limit allows; marks them reported in `r`.
    func dropAlert(_ r: inout SensorRecord, nowNs: Int64) -> NewAlert? {
        let kernel = r.unreportedKernelDrops, user = r.unreportedUserDrops
        guard kernel > 0 || user > 0 else { return nil }
        if let last = r.lastDropAlertNs, Double(nowNs - last) < dropAlertInterval * 1e9 { return nil }
        // The collector cannot tell when between two batches the sensor's counters moved (a batch can wait in the
        // sensor's spool, or the sensor can be stopped, for as long as it likes), only that the drops are newer than
        // what the previous alert named: the interval runs from that alert, or from the sensor's first batch.
        let windowStart = r.lastDropAlertNs ?? r.firstSeenNs
        r.dropWindowStartNs = windowStart
        let seconds = Double(max(0, nowNs - windowStart)) / 1e9
        let s = seconds < 10 ? String(Double(Int(seconds * 10)) / 10) : String(Int(seconds.rounded()))
        let when = nowNs > windowStart ? "in the last \(s) s" : "before the sensor's first batch arrived"
        let output = "Syscall event drops: \(kernel) kernel, \(user) sensor events dropped \(when) (sensor \(r.hostname))"
        let fields = "{\"n_drops\":\(saturating(kernel, user)),\"n_drops_kernel\":\(kernel),\"n_drops_sensor\":\(user),"
            + "\"interval_s\":\(s),\"sensor.id\":\(JSON.quoted(r.sensorID)),\"sensor.hostname\":\(JSON.quoted(r.hostname)),"
            + "\"sensor.version\":\(JSON.quoted(r.sensorVersion)),\"kernel_drops_total\":\(r.kernelDrops),"
            + "\"sensor_drops_total\":\(r.userDrops)}"
        r.reportedKernelDrops = r.kernelDrops
        r.reportedUserDrops = r.userDrops
        r.lastDropAlertNs = nowNs
        r.dropWindowStartNs = nowNs
        return NewAlert(timeNs: nowNs, host: r.hostname, sensorID: r.sensorID, rule: Self.dropRule, priority: Self.dropPriority,
                        source: "internal", output: output, tags: [], fieldsJSON: fields)
    }
}

/// `a + b` for non-negative counts, stopping at Int64.max: drop counters come from batch headers (any UInt64, clamped
/// to Int64.max), and totals over several sensor runs of such values must not trap.
@inline(__always) fileprivate func saturating(_ a: Int64, _ b: Int64) -> Int64 {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? Int64.max : sum
}
