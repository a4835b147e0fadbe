/// One row of the `sensors` table: what the collector knows about a sensor (lanner-collector sensors).
///
/// Drop counters: a batch header carries the kernel and user drops *since the sensor process started*; a new
/// run (a higher `sequence >> 32`, the run epoch) starts them at 0 again. `runKernelDrops`/`runUserDrops` are
/// the highest values the current run reported; `kernelDrops`/`userDrops` the totals over every run. The drop
/// alert reports `kernelDrops − reportedKernelDrops` (and the same for user drops): what no alert has named yet.
/// Read failures (kernel reads that failed; the records still went out) are counted the same way: `runReadFailures`
/// for the current run, `readFailures` over every run; no alert names them.
///
/// Rate: events received in `[windowStartNs, lastSeenNs]` are `windowEvents`; a window closes on the first batch
/// at least 60 s after it opened, and its events and length become `rateEvents`/`rateNs` (events/s =
/// rateEvents / rateNs).
public struct SensorRecord: Sendable, Equatable {
    public var sensorID: String
    public var hostname: String
    public var sensorVersion: String
    public var bootID: String
    /// `sequence >> 32` of the newest run seen.
    public var runEpoch: Int64
    /// Collector wall-clock times, ns since the Unix epoch.
    public var firstSeenNs: Int64
    public var lastSeenNs: Int64
    public var batches: Int64
    public var events: Int64
    public var kernelDrops: Int64
    public var userDrops: Int64
    public var runKernelDrops: Int64
    public var runUserDrops: Int64
    public var reportedKernelDrops: Int64
    public var reportedUserDrops: Int64
    /// Kernel reads that failed, over every run of the sensor (batch header 1.3; a 1.2 sensor reports none).
    public var readFailures: Int64
    /// The highest read-failure count the current run reported.
    public var runReadFailures: Int64
    /// Start of the interval the unreported drops fall in: the sensor's last drop alert, or its first batch.
    public var dropWindowStartNs: Int64
    public var lastDropAlertNs: Int64?
    public var windowStartNs: Int64
    public var windowEvents: Int64
    public var rateEvents: Int64
    public var rateNs: Int64

    public init(sensorID: String, hostname: String, sensorVersion: String, bootID: String, runEpoch: Int64, nowNs: Int64) {
        self.sensorID = sensorID
        self.hostname = hostname
        self.sensorVersion = sensorVersion
        self.bootID = bootID
        self.runEpoch = runEpoch
        firstSeenNs = nowNs
        lastSeenNs = nowNs
        batches = 0
        events = 0
        kernelDrops = 0
        userDrops = 0
        runKernelDrops = 0
        runUserDrops = 0
        reportedKernelDrops = 0
        reportedUserDrops = 0
        readFailures = 0
        runReadFailures = 0
        dropWindowStartNs = nowNs
        lastDropAlertNs = nil
        windowStartNs = nowNs
        windowEvents = 0
        rateEvents = 0
        rateNs = 0
    }

    /// Drops no alert has reported yet.
    public var unreportedKernelDrops: Int64 { kernelDrops - reportedKernelDrops }
    public var unreportedUserDrops: Int64 { userDrops - reportedUserDrops }

    /// Events per second over the last closed window (≥ 60 s), or over the open window while none has closed;
    /// nil before there is any interval to divide by.
    public var eventsPerSecond: Double? {
        if rateNs > 0 { return Double(rateEvents) / (Double(rateNs) / 1e9) }
        let open = lastSeenNs - windowStartNs
        return open > 0 ? Double(windowEvents) / (Double(open) / 1e9) : nil
    }
}
