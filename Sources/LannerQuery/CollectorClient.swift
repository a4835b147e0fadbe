import LannerCore
import LannerHTTP2
import LannerStore

/// `--collector URL`: a collector's query API, over one h2c connection (`H2Client`, as the sensor's uploader
/// uses). One request at a time; not thread-safe.
///
/// ```swift
/// let c = try CollectorClient(url: "http://collector:7601", token: token)
/// let recent = try c.list(AlertQuery(minPriority: .warning, limit: 20))
/// ```
public final class CollectorClient {
    public let endpoint: CollectorEndpoint
    private let token: String
    private var client: H2Client?
    /// How long one request may take (tail requests get their wait on top).
    public var timeout: Duration = .seconds(30)

    public init(url: String, token: String) throws {
        guard let e = CollectorEndpoint(url: url) else {
            throw RemoteError.badURL(url, url.hasPrefix("https://")
                          ? "uses TLS, which the collector does not serve yet: use http://HOST:PORT (h2c) on a trusted network or through a TLS tunnel"
                          : "is not http://HOST:PORT")
        }
        endpoint = e
        self.token = token
    }

    // MARK: Queries

    /// The alerts matching `q`; pages through the API (at most `QueryAPI.maxPage` rows per request) when `q.limit`
    /// is 0 (all) or larger than a page, continuing after the last row of each page: the rows and their order are
    /// those `AlertStore.query` returns for `q`.
    public func list(_ q: AlertQuery) throws -> [StoredAlert] {
        var out: [StoredAlert] = []
        var page = q
        while true {
            let want = q.limit > 0 ? q.limit - out.count : QueryAPI.maxPage
            page.limit = min(want, QueryAPI.maxPage)
            let answer = try get(QueryAPI.listPath(page), as: QueryAPI.ListAnswer.self)
            for a in answer.alerts { out.append(try decoded(a)) }
            guard let next = answer.next, q.limit <= 0 || out.count < q.limit else { return out }
            page.after = AlertPosition(timeNs: next.time_ns, id: next.id)
        }
    }

    /// The alert with id `id`.
    /// - Throws: `NoSuchAlert` with the collector's message when it has none; `RemoteError` otherwise.
    public func alert(id: Int64) throws -> StoredAlert {
        do {
            return try decoded(try get("/v1/alerts/\(id)", as: QueryAPI.AlertAnswer.self).alert)
        } catch RemoteError.status(404, _, let message) {
            throw NoSuchAlert(message)
        }
    }

    public func stats(_ q: AlertQuery) throws -> AlertStats {
        QueryAPI.stats(try get(QueryAPI.statsPath(q), as: QueryAPI.StatsAnswer.self))
    }

    public func sensors() throws -> [SensorRecord] {
        try get("/v1/sensors", as: QueryAPI.SensorsAnswer.self).sensors.map(\.record)
    }

    /// The highest alert id the collector has stored: where a tail starts.
    public func lastID() throws -> Int64 {
        try get(QueryAPI.tailPath(AlertQuery(), afterID: nil, waitSeconds: 0, limit: 0), as: QueryAPI.TailAnswer.self).last_id
    }

    /// Rows stored after `afterID` matching `q`, in id order; the collector holds the request until there are some
    /// or `waitSeconds` passed. `lastID` is where the next call continues (it also moves past rows that did not match).
    public func tail(afterID: Int64, matching q: AlertQuery, waitSeconds: Int, limit: Int) throws
        -> (alerts: [StoredAlert], lastID: Int64)
    {
        let a = try get(QueryAPI.tailPath(q, afterID: afterID, waitSeconds: waitSeconds, limit: limit), as: QueryAPI.TailAnswer.self,
                        extra: .seconds(waitSeconds))
        var out: [StoredAlert] = []
        for w in a.alerts { out.append(try decoded(w)) }
        return (out, a.last_id)
    }

    // MARK: Transport

    private func decoded(_ w: QueryAPI.WireAlert) throws -> StoredAlert {
        do { return try w.stored() } catch { throw RemoteError.badAnswer(endpoint.description, error.description) }
    }

    private func get<T: Decodable>(_ path: String, as type: T.Type, extra: Duration = .zero) throws -> T {
        let response = try send(path, timeout: timeout + extra)
        guard response.status == 200 else {
            let message = (try? QueryAPI.decode(QueryAPI.ErrorAnswer.self, response.body).error)
                ?? String(decoding: response.body.prefix(200), as: UTF8.self)
            throw RemoteError.status(response.status, endpoint.description, message)
        }
        do { return try QueryAPI.decode(T.self, response.body) } catch { throw RemoteError.badAnswer(endpoint.description, error.description) }
    }

    /// Sends on the open connection; opens one (again) when there is none or the old one ended. A connection the
    /// collector closed while it was idle (GOAWAY, idle timeout) is retried once on a new one.
    private func send(_ path: String, timeout: Duration) throws -> H2Response {
        let headers = [(name: "authorization", value: "Bearer " + token)]
        var last: H2Error = .connectionClosed(reason: "not sent")
        for attempt in 0..<2 {
            let result = attemptSend(path, headers: headers, timeout: timeout)
            switch result {
            case .success(let response): return response
            case .failure(let e):
                client = nil
                last = e
                let retriable: Bool
                switch e {
                case .goAway, .connectionClosed: retriable = attempt == 0
                default: retriable = false
                }
                if !retriable { throw RemoteError.transport(endpoint.description, e) }
            }
        }
        throw RemoteError.transport(endpoint.description, last)
    }

    private func attemptSend(_ path: String, headers: [(name: String, value: String)], timeout: Duration) -> Result<H2Response, H2Error> {
        do {
            if client == nil || client?.isOpen == false {
                client = try H2Client(host: endpoint.host, port: endpoint.port, maxResponseBodyBytes: 256 << 20)
            }
            return .success(try client!.request(method: "GET", path: path, headers: headers, timeout: timeout))
        } catch {
            return .failure(error)
        }
    }

    public func close() {
        client?.close()
        client = nil
    }
}

@available(*, unavailable)
extension CollectorClient: Sendable {}

/// What can go wrong talking to a collector.
public enum RemoteError: Error, Sendable, CustomStringConvertible {
    case badURL(String, String)
    /// Connecting or exchanging frames failed.
    case transport(String, H2Error)
    /// The collector answered `status` with `message` (the API's `{"error": …}`).
    case status(Int, String, String)
    /// The answer was not what the API sends.
    case badAnswer(String, String)

    public var description: String {
        switch self {
        case .badURL(let url, let why): return "option '--collector': '\(url)' \(why)"
        case .transport(let c, let e): return "collector \(c): \(e)"
        case .status(401, let c, _):
            return "collector \(c) refused the token (401): pass the collector's token with --token-file FILE or LANNER_TOKEN"
        case .status(let code, let c, let message):
            // 400 and 404 carry a message meant for the user, the same one a local query prints.
            return code == 400 || code == 404 ? message : "collector \(c) answered \(code): \(message)"
        case .badAnswer(let c, let why): return "collector \(c): \(why)"
        }
    }
}
