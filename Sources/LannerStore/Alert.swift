import LannerCore

/// An alert to store: one rule match, rendered, before it has a row id.
public struct NewAlert: Sendable, Equatable {
    /// Event time, nanoseconds since the Unix epoch.
    public var timeNs: Int64
    /// Host name of the machine the event happened on.
    public var host: String
    /// Identity of the sensor that sent the event.
    public var sensorID: String
    /// Name of the rule that matched.
    public var rule: String
    /// The rule's priority.
    public var priority: Priority
    /// Event source, `syscall` for the eBPF sensor.
    public var source: String
    /// The rule's output, rendered.
    public var output: String
    /// The rule's tags.
    public var tags: [String]
    /// The output's fields as a JSON object (Falco's `output_fields`), e.g. `{"proc.name":"sh"}`.
    /// An empty string is stored as `{}`; anything not shaped like an object is refused by `commit`.
    public var fieldsJSON: String
    /// The container the event came from, when known.
    public var containerID: String?
    /// That container's name, when known.
    public var containerName: String?

    /// Creates an alert; `source` defaults to `syscall`.
    public init(timeNs: Int64, host: String, sensorID: String, rule: String, priority: Priority,
                source: String = "syscall", output: String, tags: [String] = [], fieldsJSON: String = "{}",
                containerID: String? = nil, containerName: String? = nil) {
        self.timeNs = timeNs
        self.host = host
        self.sensorID = sensorID
        self.rule = rule
        self.priority = priority
        self.source = source
        self.output = output
        self.tags = tags
        self.fieldsJSON = fieldsJSON
        self.containerID = containerID
        self.containerName = containerName
    }
}

/// An alert as stored: every column of the `alerts` table.
public struct StoredAlert: Sendable, Equatable {
    /// Row id, increasing with insertion order.
    public var id: Int64
    /// Event time, nanoseconds since the Unix epoch.
    public var timeNs: Int64
    public var host: String
    public var sensorID: String
    public var rule: String
    public var priority: Priority
    public var source: String
    public var output: String
    public var tags: [String]
    /// The output's fields as stored (a JSON object).
    public var fieldsJSON: String
    public var containerID: String?
    public var containerName: String?
    /// How many alerts this row stands for: 1, plus every identical alert (same host, rule and output) folded
    /// into it within the aggregation window.
    public var count: Int
    /// Time of the last alert this row stands for, nanoseconds since the Unix epoch.
    public var lastSeenNs: Int64

    public init(id: Int64, timeNs: Int64, host: String, sensorID: String, rule: String, priority: Priority,
                source: String, output: String, tags: [String], fieldsJSON: String, containerID: String?,
                count: Int, lastSeenNs: Int64, containerName: String? = nil) {
        self.id = id
        self.timeNs = timeNs
        self.host = host
        self.sensorID = sensorID
        self.rule = rule
        self.priority = priority
        self.source = source
        self.output = output
        self.tags = tags
        self.fieldsJSON = fieldsJSON
        self.containerID = containerID
        self.count = count
        self.lastSeenNs = lastSeenNs
        self.containerName = containerName
    }
}

/// Which alerts `AlertStore.query` (and `stats`, `alerts(after:)`) return. Every filter left nil matches
/// everything; the filters combine with AND.
public struct AlertQuery: Sendable, Equatable {
    /// Only alerts with `timeNs >= since`.
    public var since: Int64?
    /// Only alerts with `timeNs < until` (exclusive, so consecutive windows do not overlap).
    public var until: Int64?
    /// The rule name, exactly; or an SQL GLOB pattern (case-sensitive) when it contains `*`, `?` or `[` and no
    /// stored alert has exactly that rule name.
    public var rule: String?
    /// Only alerts at least this severe (`priority <= minPriority.rawValue`).
    public var minPriority: Priority?
    /// Only alerts from this host (exact).
    public var host: String?
    /// Only alerts from this container: its id (12 hex digits; a longer full id is cut to 12), its name, or
    /// `host` for alerts from outside any container.
    public var container: String?
    /// Only alerts carrying this tag (exact).
    public var tag: String?
    /// Only alerts whose output contains these words (`TextSearch` says how words match).
    public var text: String?
    /// At most this many rows; 0 or less returns every match.
    public var limit: Int
    /// Newest first (time, then id, descending) when true; oldest first otherwise.
    public var newestFirst: Bool
    /// Keyset paging: only alerts that come after this (time, id) position in the chosen order.
    public var after: AlertPosition?
    /// Only alerts with an id at most this (a snapshot bound: rows stored later are left out).
    public var maxID: Int64?

    public init(since: Int64? = nil, until: Int64? = nil, rule: String? = nil, minPriority: Priority? = nil,
                host: String? = nil, container: String? = nil, tag: String? = nil, text: String? = nil,
                limit: Int = 100, newestFirst: Bool = true, after: AlertPosition? = nil, maxID: Int64? = nil) {
        self.since = since
        self.until = until
        self.rule = rule
        self.minPriority = minPriority
        self.host = host
        self.container = container
        self.tag = tag
        self.text = text
        self.limit = limit
        self.newestFirst = newestFirst
        self.after = after
        self.maxID = maxID
    }

    /// True when `rule` is used as a GLOB pattern rather than compared exactly.
    public var ruleIsPattern: Bool {
        rule.map { $0.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) } ?? false
    }
}

/// A place in the (time, id) order of alerts, for paging.
public struct AlertPosition: Sendable, Equatable {
    public var timeNs: Int64
    public var id: Int64
    public init(timeNs: Int64, id: Int64) {
        self.timeNs = timeNs
        self.id = id
    }
}

/// What `AlertStore.commit` did with a batch.
public enum CommitResult: Sendable, Equatable {
    /// The batch was new: it is now in the ledger and its alerts were stored with these row ids, in order.
    case committed([Int64])
    /// That (sensor, sequence) was committed before; nothing was written.
    case duplicate
}
