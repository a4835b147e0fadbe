import LannerWire

/// What one eBPF program of lanner.bpf.o is for, read from its name (sensor/README.md, "Attach strategy"):
///
/// | name | role |
/// |---|---|
/// | `lanner_sched_*` | process lifecycle (`tp_btf/sched_process_*`): attached always |
/// | `lanner_exit_<event>` | the `sys_exit` hook of `<event>`'s syscall: attached while `<event>` is wanted |
/// | `lanner_enter_<event>` | its `sys_enter` hook (close): attached after the exit hook, detached before it |
/// | `lanner_enter_execveat`, `lanner_exit_execveat` | they also label successful execs execve vs execveat: attached while either is wanted |
/// | `lanner_raw_<a>__<b>` | `raw_tracepoint/sys_exit` stand-in for events whose own tracepoint this kernel lacks (a kernel without modules has no `sys_exit_init_module`): attached only then |
struct ProgramRole: Equatable, Sendable {
    enum Kind: Equatable, Sendable { case always, syscall, fallback }
    var kind: Kind
    /// The event types the program serves.
    var events: Set<UInt16>
    /// A `sys_enter` hook whose work the exit hook finishes: attached after it and detached before it.
    var isEntry: Bool = false

    /// The role of the program named `name`, or nil when the name follows no convention (an object this
    /// loader does not understand).
    static func of(program name: String) -> ProgramRole? {
        if name.hasPrefix("lanner_sched_") { return ProgramRole(kind: .always, events: []) }
        if name == "lanner_enter_execveat" || name == "lanner_exit_execveat" {
            return ProgramRole(kind: .syscall, events: [EventType.execve.rawValue, EventType.execveat.rawValue],
                               isEntry: name.hasPrefix("lanner_enter_"))
        }
        for (prefix, entry) in [("lanner_exit_", false), ("lanner_enter_", true)] where name.hasPrefix(prefix) {
            guard let t = eventType(named: String(name.dropFirst(prefix.count))) else { return nil }
            return ProgramRole(kind: .syscall, events: [t.rawValue], isEntry: entry)
        }
        if name.hasPrefix("lanner_raw_") {
            let parts = name.dropFirst("lanner_raw_".count).components(separatedBy: "__")
            let types = parts.compactMap(eventType(named:))
            guard !types.isEmpty, types.count == parts.count else { return nil }
            return ProgramRole(kind: .fallback, events: Set(types.map(\.rawValue)))
        }
        return nil
    }

    static func eventType(named name: String) -> EventType? {
        EventType.allCases.first { $0.name == name && $0.fromKernel }
    }
}

/// Which programs to attach for an interest set: pure, so the strategy is unit-tested without a kernel.
struct ProgramPlan: Sendable {
    struct Entry: Sendable {
        var name: String
        var role: ProgramRole
        /// False when the program's hook does not exist on this kernel (it was not loaded).
        var available: Bool
    }

    var entries: [Entry]

    /// Events some unavailable syscall program serves: their fallback program stands in.
    var missingNatively: Set<UInt16> {
        entries.reduce(into: Set<UInt16>()) { acc, e in if e.role.kind == .syscall && !e.available { acc.formUnion(e.role.events) } }
    }

    /// Event types this kernel cannot capture at all: no available program of their own and no fallback.
    var unavailableEvents: Set<UInt16> {
        let fallback = entries.filter { $0.role.kind == .fallback && $0.available }
            .reduce(into: Set<UInt16>()) { $0.formUnion($1.role.events) }
        return missingNatively.subtracting(fallback)
    }

    /// Indices of the programs to have attached while `interest` is wanted.
    func wanted(for interest: Set<UInt16>) -> Set<Int> {
        let missing = missingNatively
        var out = Set<Int>()
        for (i, e) in entries.enumerated() where e.available {
            switch e.role.kind {
            case .always: out.insert(i)
            case .syscall: if !e.role.events.isDisjoint(with: interest) { out.insert(i) }
            case .fallback: if !e.role.events.intersection(missing).isDisjoint(with: interest) { out.insert(i) }
            }
        }
        return out
    }

    /// The order to attach `indices` in: exit hooks before entry hooks (an entry hook's work is finished by
    /// its exit hook); detach in the reverse order.
    func attachOrder(_ indices: Set<Int>) -> [Int] {
        indices.sorted { a, b in
            let ea = entries[a].role.isEntry, eb = entries[b].role.isEntry
            return ea == eb ? a < b : !ea
        }
    }
}
