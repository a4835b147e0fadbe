import Foundation
import LannerCore
import LannerStore
#if canImport(Glibc)
import Glibc
#endif

/// Where `lanner-collector alerts …` and `sensors` read: the database file (`--db`) or a collector's API
/// (`--collector`). Both give the same rows in the same order, so every output is the same either way.
public protocol AlertSource: AnyObject {
    func list(_ q: AlertQuery) throws -> [StoredAlert]
    /// - Throws: `NoSuchAlert` (its message says which ids exist) when `id` names no alert.
    func alert(id: Int64) throws -> StoredAlert
    func stats(_ q: AlertQuery) throws -> AlertStats
    func sensors() throws -> [SensorRecord]
    /// The highest stored id (0 when none): where a tail starts.
    func lastID() throws -> Int64
    /// Rows after `afterID` matching `q` (id order, at most `limit`), waiting up to `waitSeconds` for some.
    /// `lastID` is where to continue.
    func tail(afterID: Int64, matching q: AlertQuery, limit: Int, waitSeconds: Int) throws -> (alerts: [StoredAlert], lastID: Int64)
}

/// `alerts show` with an id that names no alert.
public struct NoSuchAlert: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ message: String) { description = message }
}

/// Shared wording, so the database and the API say the same.
public enum QueryMessages {
    public static func noAlert(_ id: Int64, bounds: ClosedRange<Int64>?) -> String {
        guard let bounds else { return "no alert with id \(id): the database holds no alerts" }
        return "no alert with id \(id) (stored ids run from \(bounds.lowerBound) to \(bounds.upperBound))"
    }
}

/// The database file, read-only (the collector may be writing it).
public final class LocalAlertSource: AlertSource {
    public let store: AlertStore
    private var watcher: DatabaseWatcher?

    public init(store: AlertStore) { self.store = store }

    public func list(_ q: AlertQuery) throws -> [StoredAlert] { try store.query(q) }
    public func alert(id: Int64) throws -> StoredAlert {
        guard let a = try store.alert(id: id) else { throw NoSuchAlert(QueryMessages.noAlert(id, bounds: try store.idBounds())) }
        return a
    }
    public func stats(_ q: AlertQuery) throws -> AlertStats { try store.stats(q) }
    public func sensors() throws -> [SensorRecord] { try store.sensors() }
    public func lastID() throws -> Int64 { try store.lastID() }

    /// Checks, then sleeps until the database's directory reports a write (inotify on the file and its -wal) or
    /// a second passes, and checks again, until `waitSeconds` are over: new rows show within milliseconds of the
    /// commit, and an idle tail costs nothing.
    public func tail(afterID: Int64, matching q: AlertQuery, limit: Int, waitSeconds: Int) throws -> (alerts: [StoredAlert], lastID: Int64) {
        let deadline = Date().addingTimeInterval(Double(waitSeconds))
        if watcher == nil { watcher = DatabaseWatcher(path: store.path) }
        var cursor = afterID
        while true {
            watcher?.drain()
            let last = try store.lastID()
            if last > cursor {
                let rows = try store.alerts(afterID: cursor, matching: q, limit: limit)
                if let newest = rows.last {
                    // With `limit` rows there may be more right after the last; otherwise everything up to `last`
                    // (and any row stored since, which the query saw) has been examined.
                    return (rows, limit > 0 && rows.count >= limit ? newest.id : max(last, newest.id))
                }
                cursor = last
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return ([], cursor) }
            if let watcher { watcher.wait(milliseconds: Int(min(1000, left * 1000)) + 1) } else { Thread.sleep(forTimeInterval: min(1, left)) }
        }
    }
}

/// Wakes a local tail when the database files change: inotify on their directory (the -wal file comes and goes).
final class DatabaseWatcher {
    private let fd: Int32

    init?(path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        let mask = UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO)
        guard inotify_add_watch(fd, dir.isEmpty ? "." : dir, mask) >= 0 else {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    /// Reads away pending events.
    func drain() {
        var buf = [UInt8](repeating: 0, count: 4096)
        while buf.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Sleeps until an event arrives or `milliseconds` pass.
    func wait(milliseconds: Int) {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&p, 1, Int32(milliseconds))
    }
}

/// A collector's query API.
public final class RemoteAlertSource: AlertSource {
    public let client: CollectorClient

    public init(client: CollectorClient) { self.client = client }

    public func list(_ q: AlertQuery) throws -> [StoredAlert] { try client.list(q) }
    public func alert(id: Int64) throws -> StoredAlert { try client.alert(id: id) }
    public func stats(_ q: AlertQuery) throws -> AlertStats { try client.stats(q) }
    public func sensors() throws -> [SensorRecord] { try client.sensors() }
    public func lastID() throws -> Int64 { try client.lastID() }
    public func tail(afterID: Int64, matching q: AlertQuery, limit: Int, waitSeconds: Int) throws -> (alerts: [StoredAlert], lastID: Int64) {
        try client.tail(afterID: afterID, matching: q, waitSeconds: waitSeconds, limit: limit)
    }
}
