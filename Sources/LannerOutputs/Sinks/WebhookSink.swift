import LannerStore

/// Alerts POSTed one per request, as `StoredAlert.jsonObject()`, to an HTTP(S) endpoint.
///
/// A 2xx answer is a delivery. 408, 429 and 5xx answers, and every transport failure (refused, reset, timed
/// out, TLS), are failed attempts that the output retries; a `Retry-After: <seconds>` answer sets the wait
/// (up to `max_backoff`). Any other status (3xx, 4xx) means the request itself is wrong: it is not retried.
final class WebhookSink: AlertSink {
    let config: WebhookOutputConfig
    let url: HTTPURL
    private let client: HTTPClient

    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    /// Loads the TLS trust (system store or `ca_file`) now, so a bad CA file fails at startup.
    init(config: WebhookOutputConfig, url: HTTPURL) throws(SetupError) {
        self.config = config
        self.url = url
        for h in config.headers {
            guard ConfigReader.isToken(h.name), !ConfigReader.clientHeaders.contains(h.name.lowercased()),
                  !h.value.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) else {
                throw SetupError(description: "header '\(h.name)' cannot be sent (a bad name, a client header, or a line break in its value)")
            }
        }
        if config.timeout <= .zero { throw SetupError(description: "timeout must be longer than 0") }
        var tls: TLSClientContext?
        if url.isHTTPS {
            do { tls = try TLSClientContext(caFile: config.caFile) } catch {
                throw SetupError(description: error.description)
            }
        }
        client = HTTPClient(url: url, tls: tls)
    }

    func deliver(_ alert: StoredAlert, attempt: Int, cancel: Canceller) -> DeliveryOutcome {
        let body = Array(alert.jsonObject().utf8)
        switch client.send(headers: config.headers, body: body, timeout: config.timeout, cancel: cancel) {
        case .failure(let e):
            if e.isCancelled { return .cancelled }
            return .failed(DeliveryFailure(message: "POST \(url): \(e.message)"))
        case .success(let r):
            if (200...299).contains(r.status) { return .delivered }
            var why = "POST \(url): HTTP \(r.status)\(r.reason.isEmpty ? "" : " " + r.reason)"
            let snippet = HTTPResponseParser.printable(r.body.prefix(200))
            if !snippet.isEmpty { why += ": " + snippet }
            let retryable = r.status == 408 || r.status == 429 || (500...599).contains(r.status)
            if !retryable { why += " (not retried: the endpoint refused the request itself)" }
            var after: Duration?
            if retryable, let v = r.header("Retry-After"), let s = Int(v.trimmingSpaces()), s >= 0 { after = .seconds(s) }
            return .failed(DeliveryFailure(message: why, retryable: retryable, retryAfter: after))
        }
    }

    func close(deadline: Deadline, cancel: Canceller) { client.close() }
}

private extension String {
    func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
