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

    /// Creates an alert; `source` defaults to `syscall`.
    public init(timeNs: Int64, host: String, sensorID: String, rule: String, priority: Priority,
                source: String = "syscall", output: String, tags: [String] = [], fieldsJSON: String = "{}",
                containerID: String? = nil) {
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
    /// How many matching events this row stands for (1 until aggregation exists).
    public var count: Int
    /// Time of the last event this row stands for, nanoseconds since the Unix epoch.
    public var lastSeenNs: Int64

    public init(id: Int64, timeNs: Int64, host: String, sensorID: String, rule: String, priority: Priority,
                source: String, output: String, tags: [String], fieldsJSON: String, containerID: String?,
                count: Int, lastSeenNs: Int64) {
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
    }
}

/// Which alerts `AlertStore.query` returns. Every filter left nil matches everything.
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
    /// At most this many rows; 0 or less returns every match.
    public var limit: Int
    /// Newest first (time, then id, descending) when true; oldest first otherwise.
    public var newestFirst: Bool

    public init(since: Int64? = nil, until: Int64? = nil, rule: String? = nil, minPriority: Priority? = nil,
                host: String? = nil, limit: Int = 100, newestFirst: Bool = true) {
        self.since = since
        self.until = until
        self.rule = rule
        self.minPriority = minPriority
        self.host = host
        self.limit = limit
        self.newestFirst = newestFirst
    }

    /// True when `rule` is used as a GLOB pattern rather than compared exactly.
    public var ruleIsPattern: Bool {
        rule.map { $0.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) } ?? false
    }
}

/// What `AlertStore.commit` did with a batch.
public enum CommitResult: Sendable, Equatable {
    /// The batch was new: it is now in the ledger and its alerts were stored with these row ids, in order.
    case committed([Int64])
    /// That (sensor, sequence) was committed before; nothing was written.
    case duplicate
}
