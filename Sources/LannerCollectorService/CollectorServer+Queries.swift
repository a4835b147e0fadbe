import Foundation
import LannerCore
import LannerHTTP2
import LannerQuery
import LannerStore

/// The collector's read-only query API (`QueryAPI` documents the routes): what `lanner-collector alerts … /
/// sensors --collector URL` asks.
///
/// Requests leave the event loop at once: they run on one serial queue with its own read-only connection to the
/// database (WAL: never blocking ingest, always a committed snapshot), at most `maxPending` at a time (more get
/// 503 and the client retries). A tail request without new rows waits without a thread: it is parked and checked
/// again when the ingest thread commits alerts (`alertsCommitted`), once a second while any is parked (rows
/// written by another process), and answered empty when its wait is over.
final class QueryService: @unchecked Sendable {
    private let path: String
    private let queue = DispatchQueue(label: "lanner-queries")
    private let lock = NSLock()
    private var pending = 0
    private var checkScheduled = false
    // Owned by `queue`:
    private var store: AlertStore?
    private var waiters: [Int: TailWaiter] = [:]
    private var nextWaiter = 0
    private var stopped = false
    private var polling = false

    static let maxPending = 64
    static let maxWaiters = 256

    struct TailWaiter {
        var query: AlertQuery
        var afterID: Int64
        var limit: Int
        let respond: H2Responder
    }

    init(databasePath: String) { path = databasePath }

    /// True for the paths this service answers.
    static func handles(_ path: String) -> Bool {
        path == "/v1/alerts" || path.hasPrefix("/v1/alerts?") || path.hasPrefix("/v1/alerts/") || path == "/v1/sensors"
            || path.hasPrefix("/v1/sensors?")
    }

    /// Answers a query route (called on the event loop; returns at once).
    func handle(_ req: H2Request, authorized: Bool, _ respond: @escaping H2Responder) {
        guard req.method == "GET" else {
            respond(.json(405, QueryAPI.errorBody("method \(req.method) not allowed on \(req.path); the query API is GET only"),
                          headers: [("allow", "GET")]))
            return
        }
        guard authorized else {
            respond(.json(401, QueryAPI.errorBody("missing or wrong bearer token"), headers: [("www-authenticate", "Bearer")]))
            return
        }
        let parsed: QueryAPI.Request
        switch QueryAPI.parseRequest(req.path) {
        case .failure(let e): respond(.json(400, QueryAPI.errorBody(e.description))); return
        case .success(let r): parsed = r
        }
        lock.lock()
        let admitted = pending < Self.maxPending
        if admitted { pending += 1 }
        lock.unlock()
        guard admitted else {
            respond(.json(503, QueryAPI.errorBody("collector busy with queries, retry later"), headers: [("retry-after", "1")]))
            return
        }
        queue.async { [self] in
            defer {
                lock.lock()
                pending -= 1
                lock.unlock()
            }
            let (status, body) = answer(parsed, respond)
            if status != 0 { respond(.json(status, body)) }
        }
    }

    /// The ingest thread committed alerts: look at the parked tails (once, however many commits came meanwhile).
    func alertsCommitted() {
        lock.lock()
        let schedule = !checkScheduled
        checkScheduled = true
        lock.unlock()
        guard schedule else { return }
        queue.async { [self] in
            lock.lock()
            checkScheduled = false
            lock.unlock()
            checkWaiters()
        }
    }

    /// Answers every parked tail (empty) and closes the connection to the database.
    func stop() {
        queue.sync {
            stopped = true
            for (_, w) in waiters { w.respond(.json(503, QueryAPI.errorBody("collector stopping"), headers: [("retry-after", "1")])) }
            waiters.removeAll()
            store?.close()
            store = nil
        }
    }

    // MARK: On the queue

    private func openStore() throws(StoreError) -> AlertStore {
        if let store { return store }
        let s = try AlertStore(path: path, readOnly: true)
        try s.setCacheSize(mebibytes: 64)
        store = s
        return s
    }

    /// (status, body) to send, or (0, _) when the request was parked (tail).
    private func answer(_ r: QueryAPI.Request, _ respond: @escaping H2Responder) -> (Int, String) {
        if stopped { return (503, QueryAPI.errorBody("collector stopping")) }
        do {
            let store = try openStore()
            switch r.path {
            case "/v1/alerts":
                var q = try unwrap(QueryAPI.query(from: r.items, allowed: ["limit", "order", "after_time", "after_id", "max_id"]))
                q.limit = try int(r.items, "limit", default: 100, in: 0...QueryAPI.maxPage, hint: "rows per page; page with after_time and after_id")
                if q.limit == 0 { q.limit = QueryAPI.maxPage }
                switch r.items["order"] ?? "newest" {
                case "newest": q.newestFirst = true
                case "oldest": q.newestFirst = false
                case let o: throw QueryAPI.BadRequest("parameter 'order': '\(o)' must be 'newest' or 'oldest'")
                }
                if r.items["after_time"] != nil || r.items["after_id"] != nil {
                    q.after = AlertPosition(timeNs: try int64(r.items, "after_time"), id: try int64(r.items, "after_id"))
                }
                if r.items["max_id"] != nil { q.maxID = try int64(r.items, "max_id") }
                let rows = try store.query(q)
                let next = rows.count == q.limit ? rows.last.map { AlertPosition(timeNs: $0.timeNs, id: $0.id) } : nil
                return (200, QueryAPI.listBody(rows, next: next))
            case "/v1/alerts/stats":
                let q = try unwrap(QueryAPI.query(from: r.items, allowed: []))
                return (200, QueryAPI.statsBody(try store.stats(q)))
            case "/v1/alerts/tail":
                return try tail(r, store, respond)
            case "/v1/sensors":
                if let k = r.items.keys.sorted().first { throw QueryAPI.BadRequest("unknown parameter '\(k)'") }
                return (200, QueryAPI.sensorsBody(try store.sensors()))
            default:
                guard r.path.hasPrefix("/v1/alerts/") else { return (404, QueryAPI.errorBody("no such endpoint: \(r.path)")) }
                let text = String(r.path.dropFirst("/v1/alerts/".count))
                guard let id = Int64(text), id > 0 else {
                    throw QueryAPI.BadRequest("'\(text)' is not an alert id (a whole number from 1)")
                }
                guard let a = try store.alert(id: id) else {
                    return (404, QueryAPI.errorBody(QueryMessages.noAlert(id, bounds: try store.idBounds())))
                }
                return (200, QueryAPI.alertBody(a))
            }
        } catch let e as QueryAPI.BadRequest {
            return (400, QueryAPI.errorBody(e.description))
        } catch let e as StoreError {
            if case .invalidQuery = e { return (400, QueryAPI.errorBody(e.description)) }
            // The file may be gone or replaced: open it again next time.
            store?.close()
            store = nil
            return (503, QueryAPI.errorBody("store error: \(e)"))
        } catch {
            return (500, QueryAPI.errorBody("\(error)"))
        }
    }

    private func tail(_ r: QueryAPI.Request, _ store: AlertStore, _ respond: @escaping H2Responder) throws -> (Int, String) {
        let q = try unwrap(QueryAPI.query(from: r.items, allowed: ["after_id", "wait", "limit"]))
        guard r.items["after_id"] != nil else {
            if let k = r.items.keys.sorted().first(where: { $0 == "wait" || $0 == "limit" }) {
                throw QueryAPI.BadRequest("parameter '\(k)' needs after_id")
            }
            return (200, QueryAPI.tailBody([], lastID: try store.lastID()))
        }
        let afterID = try int64(r.items, "after_id")
        let wait = try int(r.items, "wait", default: 0, in: 0...QueryAPI.maxWaitSeconds, hint: "seconds")
        let limit = try int(r.items, "limit", default: 1000, in: 1...QueryAPI.maxPage, hint: "rows")
        var w = TailWaiter(query: q, afterID: afterID, limit: limit, respond: respond)
        if let body = try check(&w, store) { return (200, body) }
        if wait == 0 { return (200, QueryAPI.tailBody([], lastID: w.afterID)) }
        guard waiters.count < Self.maxWaiters else {
            return (503, QueryAPI.errorBody("too many tails waiting, retry later"))
        }
        let id = nextWaiter
        nextWaiter += 1
        waiters[id] = w
        if !polling {
            polling = true
            queue.asyncAfter(deadline: .now() + 1) { [self] in poll() }
        }
        queue.asyncAfter(deadline: .now() + .seconds(wait)) { [self] in
            guard let w = waiters.removeValue(forKey: id) else { return }
            w.respond(.json(200, QueryAPI.tailBody([], lastID: w.afterID)))
        }
        return (0, "")
    }

    /// The waiter's answer when rows matched; otherwise moves its cursor past what was examined.
    private func check(_ w: inout TailWaiter, _ store: AlertStore) throws -> String? {
        let last = try store.lastID()
        guard last > w.afterID else { return nil }
        let rows = try store.alerts(afterID: w.afterID, matching: w.query, limit: w.limit)
        if let newest = rows.last {
            return QueryAPI.tailBody(rows, lastID: rows.count >= w.limit ? newest.id : max(last, newest.id))
        }
        w.afterID = last
        return nil
    }

    /// Checks the parked tails once a second while there are any.
    private func poll() {
        checkWaiters()
        if waiters.isEmpty || stopped {
            polling = false
        } else {
            queue.asyncAfter(deadline: .now() + 1) { [self] in poll() }
        }
    }

    private func checkWaiters() {
        guard !waiters.isEmpty, let store = try? openStore() else { return }
        for id in waiters.keys.sorted() {
            guard var w = waiters[id] else { continue }
            do {
                if let body = try check(&w, store) {
                    waiters[id] = nil
                    w.respond(.json(200, body))
                } else {
                    waiters[id] = w
                }
            } catch {
                waiters[id] = nil
                w.respond(.json(503, QueryAPI.errorBody("store error: \(error)")))
            }
        }
    }

    private func unwrap(_ r: Result<AlertQuery, QueryAPI.BadRequest>) throws -> AlertQuery {
        switch r {
        case .success(let q): return q
        case .failure(let e): throw e
        }
    }

    private func int(_ items: [String: String], _ name: String, default d: Int, in range: ClosedRange<Int>, hint: String) throws -> Int {
        guard let v = items[name] else { return d }
        guard let n = Int(v), range.contains(n) else {
            throw QueryAPI.BadRequest("parameter '\(name)': '\(v)' must be a whole number from \(range.lowerBound) to \(range.upperBound) (\(hint))")
        }
        return n
    }

    private func int64(_ items: [String: String], _ name: String) throws -> Int64 {
        guard let v = items[name] else { throw QueryAPI.BadRequest("parameter '\(name)' is missing") }
        guard let n = Int64(v) else { throw QueryAPI.BadRequest("parameter '\(name)': '\(v)' is not a whole number") }
        return n
    }
}
