import Foundation
import Testing
@testable import LannerCollectorService
import LannerStore
import LannerWire

/// Per-sensor drop deltas, the rate-limited drop alert, and events/s — on plain values.
@Suite struct SensorBookTests {
    static let sensor = ID128(hex: "33333333333333333333333333333333")!
    static let s = 1_000_000_000 as Int64

    static func header(epoch: UInt64 = 1, n: UInt64, kernel: UInt64 = 0, user: UInt64 = 0, reads: UInt64 = 0) -> BatchHeader {
        BatchHeader(sequence: epoch << 32 | n, bootTimeUnixNs: 1, kernelDrops: kernel, userDrops: user, readFailures: reads,
                    sensorID: sensor, bootID: .zero, hostname: "web-1", sensorVersion: "0.1.0")
    }

    /// Observes and applies (as a successful commit does).
    static func feed(_ book: inout SensorBook, _ h: BatchHeader, events: Int = 10, at t: Int64) -> NewAlert? {
        let (r, a) = book.observe(h, events: events, nowNs: t)
        book.apply(r)
        return a
    }

    @Test func cumulativeCountersBecomeDeltasAndOneAlertNamesThem() throws {
        var book = SensorBook(records: [])
        #expect(Self.feed(&book, Self.header(n: 1), at: 100 * Self.s) == nil)
        let a = try #require(Self.feed(&book, Self.header(n: 2, kernel: 7, user: 2), at: 102 * Self.s))
        #expect(a.rule == "Syscall event drops")
        #expect(a.priority == .critical)
        #expect(a.source == "internal")
        #expect(a.host == "web-1")
        #expect(a.output == "Syscall event drops: 7 kernel, 2 sensor events dropped in the last 2.0 s (sensor web-1)")
        let f = try JSONSerialization.jsonObject(with: Data(a.fieldsJSON.utf8)) as! [String: Any]
        #expect(f["n_drops"] as? Int == 9)
        #expect(f["n_drops_kernel"] as? Int == 7)
        #expect(f["n_drops_sensor"] as? Int == 2)
        #expect(f["sensor.id"] as? String == Self.sensor.description)
        // The same cumulative values again: nothing new.
        #expect(Self.feed(&book, Self.header(n: 3, kernel: 7, user: 2), at: 120 * Self.s) == nil)
        let r = try #require(book.records[Self.sensor.description])
        #expect(r.kernelDrops == 7 && r.userDrops == 2 && r.batches == 3 && r.events == 30)
    }

    @Test func atMostOneAlertPerIntervalAndNothingHeldBackIsLost() throws {
        var book = SensorBook(records: [], dropAlertInterval: 10)
        _ = Self.feed(&book, Self.header(n: 1), at: 0)
        #expect(Self.feed(&book, Self.header(n: 2, kernel: 1), at: 1 * Self.s) != nil)
        #expect(Self.feed(&book, Self.header(n: 3, kernel: 5), at: 3 * Self.s) == nil, "limited")
        #expect(Self.feed(&book, Self.header(n: 4, kernel: 9), at: 6 * Self.s) == nil, "limited")
        #expect(book.tick(nowNs: 8 * Self.s).isEmpty)
        // No batch arrives; the tick raises what was held back once the interval has passed.
        let due = book.tick(nowNs: 11 * Self.s)
        #expect(due.count == 1)
        #expect(due.first?.alert.output == "Syscall event drops: 8 kernel, 0 sensor events dropped in the last 10 s (sensor web-1)")
        for d in due { book.apply(d.record) }
        #expect(book.tick(nowNs: 30 * Self.s).isEmpty)
    }

    /// Fixed bug: a sensor SIGSTOPped for ~13 s while the kernel dropped records was reported as "213399 kernel …
    /// events dropped in the last 0.0 s": the interval started at the previous batch's arrival, and after the stop the
    /// batches spooled before it arrive milliseconds ahead of the first one carrying the drops. The interval is the
    /// time since the sensor's previous drop alert.
    @Test func theIntervalRunsFromThePreviousDropAlert() throws {
        var book = SensorBook(records: [], dropAlertInterval: 10)
        let ms = Self.s / 1000
        _ = Self.feed(&book, Self.header(n: 1), at: 100 * Self.s)
        let first = try #require(Self.feed(&book, Self.header(n: 2, kernel: 5), at: 101 * Self.s))
        #expect(first.output == "Syscall event drops: 5 kernel, 0 sensor events dropped in the last 1.0 s (sensor web-1)")
        _ = Self.feed(&book, Self.header(n: 3, kernel: 5), at: 102 * Self.s)
        // SIGSTOP at 103 s, SIGCONT at 116 s: a batch built before the stop, then the one carrying the drops.
        #expect(Self.feed(&book, Self.header(n: 4, kernel: 5), at: 116 * Self.s) == nil)
        let after = try #require(Self.feed(&book, Self.header(n: 5, kernel: 213_404), at: 116 * Self.s + 2 * ms))
        #expect(after.output == "Syscall event drops: 213399 kernel, 0 sensor events dropped in the last 15 s (sensor web-1)")
        let f = try JSONSerialization.jsonObject(with: Data(after.fieldsJSON.utf8)) as! [String: Any]
        #expect((f["interval_s"] as? NSNumber)?.intValue == 15)
        let r = try #require(book.records[Self.sensor.description])
        #expect(r.lastDropAlertNs == 116 * Self.s + 2 * ms && r.dropWindowStartNs == r.lastDropAlertNs)
    }

    /// Without an earlier drop alert the interval starts at the sensor's first batch; drops in that very batch happened
    /// before anything reached the collector, and the alert says so instead of "in the last 0.0 s".
    @Test func withoutAnEarlierAlertTheIntervalStartsAtTheFirstBatch() throws {
        var book = SensorBook(records: [], dropAlertInterval: 10)
        _ = Self.feed(&book, Self.header(n: 1), at: 50 * Self.s)
        _ = Self.feed(&book, Self.header(n: 2), at: 52 * Self.s)
        let a = try #require(Self.feed(&book, Self.header(n: 3, user: 4), at: 53 * Self.s + Self.s / 2))
        #expect(a.output == "Syscall event drops: 0 kernel, 4 sensor events dropped in the last 3.5 s (sensor web-1)")

        var fresh = SensorBook(records: [], dropAlertInterval: 10)
        let b = try #require(Self.feed(&fresh, Self.header(n: 1, kernel: 2), at: 7 * Self.s))
        #expect(b.output == "Syscall event drops: 2 kernel, 0 sensor events dropped before the sensor's first batch arrived (sensor web-1)")
    }

    @Test func aRestartedSensorCountsFromZeroAgainAndOutOfOrderNeverLowers() throws {
        var book = SensorBook(records: [], dropAlertInterval: 0)
        _ = Self.feed(&book, Self.header(epoch: 1, n: 1, kernel: 4), at: 0)
        _ = Self.feed(&book, Self.header(epoch: 1, n: 3, kernel: 6), at: 1 * Self.s)
        #expect(Self.feed(&book, Self.header(epoch: 1, n: 2, kernel: 5), at: 2 * Self.s) == nil, "an older batch of the run adds nothing")
        let a = try #require(Self.feed(&book, Self.header(epoch: 2, n: 1, kernel: 3), at: 3 * Self.s))
        #expect(a.output.hasPrefix("Syscall event drops: 3 kernel,"))
        #expect(Self.feed(&book, Self.header(epoch: 1, n: 9, kernel: 100), at: 4 * Self.s) == nil, "a late batch of an older run adds nothing")
        let r = try #require(book.records[Self.sensor.description])
        #expect(r.kernelDrops == 9 && r.runEpoch == 2 && r.runKernelDrops == 3)
    }

    /// Drop counters are any UInt64 a batch header holds (a corrupt or hostile batch): they are clamped to Int64.max,
    /// and sums over runs and of kernel + sensor drops stop there instead of trapping (which stopped the collector).
    static let extremeDrops: [(UInt64, UInt64)] = [
        (UInt64.max, UInt64.max), (UInt64.max, 0), (UInt64(Int64.max), 1), (UInt64(Int64.max) - 1, UInt64(Int64.max) - 1),
    ]

    @Test(arguments: extremeDrops)
    func extremeDropCountersSaturate(_ kernel: UInt64, _ user: UInt64) throws {
        var book = SensorBook(records: [], dropAlertInterval: 0)
        let clampedKernel = Int64(clamping: kernel), clampedUser = Int64(clamping: user)
        let a = try #require(Self.feed(&book, Self.header(epoch: 1, n: 1, kernel: kernel, user: user, reads: kernel), at: 0))
        #expect(a.output.hasPrefix("Syscall event drops: \(clampedKernel) kernel, \(clampedUser) sensor events dropped"))
        let f = try JSONSerialization.jsonObject(with: Data(a.fieldsJSON.utf8)) as! [String: Any]
        let (sum, over) = clampedKernel.addingReportingOverflow(clampedUser)
        #expect((f["n_drops"] as? NSNumber)?.int64Value == (over ? Int64.max : sum))
        // A restarted sensor (next run epoch) reporting as much again: the totals stay at the top.
        _ = Self.feed(&book, Self.header(epoch: 2, n: 1, kernel: kernel, user: user, reads: kernel), at: 1 * Self.s)
        let r = try #require(book.records[Self.sensor.description])
        #expect(r.readFailures == r.kernelDrops, "read failures saturate as drops do")
        #expect(r.kernelDrops == (kernel == 0 ? 0 : (clampedKernel > Int64.max / 2 ? Int64.max : 2 * clampedKernel)))
        #expect(r.userDrops == (user == 0 ? 0 : (clampedUser > Int64.max / 2 ? Int64.max : 2 * clampedUser)))
    }

    /// Read failures (batch header 1.3) are per-run counters like the drops: totals over runs, never lowered by a
    /// batch sent out of order, and no alert: the records went out.
    @Test func readFailuresAddUpOverRunsAndRaiseNoAlert() throws {
        var book = SensorBook(records: [], dropAlertInterval: 0)
        #expect(Self.feed(&book, Self.header(epoch: 1, n: 1, reads: 3), at: 0) == nil)
        #expect(Self.feed(&book, Self.header(epoch: 1, n: 3, reads: 8), at: 1 * Self.s) == nil)
        #expect(Self.feed(&book, Self.header(epoch: 1, n: 2, reads: 5), at: 2 * Self.s) == nil)
        #expect(Self.feed(&book, Self.header(epoch: 2, n: 1, reads: 4), at: 3 * Self.s) == nil)
        let r = try #require(book.records[Self.sensor.description])
        #expect(r.readFailures == 12 && r.runReadFailures == 4)
        #expect(r.kernelDrops == 0 && r.userDrops == 0)
    }

    @Test func aFailedCommitChangesNothing() {
        let book = SensorBook(records: [])
        _ = book.observe(Self.header(n: 1, kernel: 5), events: 10, nowNs: 0)   // not applied
        #expect(book.records.isEmpty)
        #expect(book.tick(nowNs: 100 * Self.s).isEmpty)
    }

    @Test func eventsPerSecondOverOneMinuteWindows() throws {
        var book = SensorBook(records: [])
        for i in 0..<30 { _ = Self.feed(&book, Self.header(n: UInt64(i + 1)), events: 100, at: Int64(i) * 2 * Self.s) }
        var r = try #require(book.records[Self.sensor.description])
        #expect(r.rateNs == 0, "no window closed before 60 s")
        #expect(abs(r.eventsPerSecond! - 3000.0 / 58) < 0.01)
        _ = Self.feed(&book, Self.header(n: 31), events: 100, at: 60 * Self.s)
        r = try #require(book.records[Self.sensor.description])
        #expect(r.rateEvents == 3000 && r.rateNs == 60 * Self.s)
        #expect(r.eventsPerSecond == 50)
        #expect(SensorFormatting.eventsPerSecond(r, nowNs: 61 * Self.s) == 50)
        #expect(SensorFormatting.eventsPerSecond(r, nowNs: 200 * Self.s) == 0, "nothing in the last minute")
    }

    @Test func theSensorsTableText() throws {
        var book = SensorBook(records: [])
        _ = Self.feed(&book, Self.header(n: 1, kernel: 2, user: 1, reads: 6), events: 500, at: 0)
        let r = try #require(book.records[Self.sensor.description])
        let text = SensorFormatting.table([r], nowNs: 3 * Self.s)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("HOST   VERSION  LAST SEEN  EVENTS/S  EVENTS  BATCHES  KERNEL DROPS  SENSOR DROPS  READ FAILURES  SENSOR ID"))
        #expect(lines[1].hasPrefix("web-1  0.1.0    3s ago     0.0       500     1        2             1             6              33333333-"))
        #expect(SensorFormatting.table([r], nowNs: 30 * Self.s).contains("30s ago (stale)"))
        let json = try JSONSerialization.jsonObject(with: Data(SensorFormatting.jsonLines([r], nowNs: 3 * Self.s).utf8)) as! [String: Any]
        #expect(json["hostname"] as? String == "web-1")
        #expect(json["kernel_drops"] as? Int == 2)
        #expect(json["sensor_drops"] as? Int == 1)
        #expect(json["read_failures"] as? Int == 6)
        #expect(json["last_seen_ago_s"] as? Int == 3)
        #expect(SensorFormatting.table([], nowNs: 0) == "no sensors have sent batches to this database\n")
    }
}
