import LannerWire

/// One process (thread group) as the collector knows it, rebuilt from the sensor's snapshot and stream.
public final class ProcessEntry {
    public let pid: UInt32
    public var ppid: UInt32
    public var comm: ByteString
    /// Full path of the executable (proc.exepath).
    public var exePath: ByteString
    /// argv[0] (proc.exe).
    public var argv0: ByteString
    /// argv[1...] (proc.args items).
    public var args: [ByteString]
    /// argv[1...] joined by spaces (proc.args).
    public var argsJoined: ByteString
    /// comm + " " + args (proc.cmdline, as Falco builds it).
    public var cmdline: ByteString
    /// argv[0] + " " + args (proc.exeline).
    public var exeline: ByteString
    /// Total bytes of the args, blanks between them not counted (proc.cmdlenargs).
    public var argsLength: Int = 0
    public var cwd: ByteString
    public var cgroup: ByteString
    public var containerID: ByteString
    /// The full container id as the container table's key; nil for a host process.
    public internal(set) var containerKey: String?
    /// The container's metadata as last looked up (valid while `containerGeneration` is the host's).
    var cachedContainer: ContainerEntry?
    var containerGeneration: UInt32 = 0
    public var uid: UInt32, gid: UInt32, euid: UInt32
    public var loginuid: UInt32
    public var vpid: UInt32, sid: UInt32, pgid: UInt32
    public var tty: UInt32
    public var capEffective: UInt64, capPermitted: UInt64
    public var startNs: UInt64
    public var exeFlags: UInt32
    /// Still running (an exited process is kept while children still point at it).
    public var alive = true
    /// Known only from an event's pid: no snapshot or exec told us about it.
    public var placeholder = false
    /// Live processes whose parent this is.
    var children = 0
    /// Thread ids of the group's other threads (not the leader), as far as the stream told us.
    public internal(set) var threadIDs: Set<UInt32> = []
    /// Waiting in the host's eviction queue (exited or placeholder).
    var queued = false
    /// Open file descriptors the stream told us about (shared by the group's threads; copied on fork).
    var fds: [Int32: FDEntry] = [:]

    init(pid: UInt32, ppid: UInt32) {
        self.pid = pid
        self.ppid = ppid
        comm = .empty; exePath = .empty; argv0 = .empty; args = []; argsJoined = .empty; cmdline = .empty; exeline = .empty
        cwd = .empty; cgroup = .empty; containerID = HostState.hostContainerID
        uid = 0; gid = 0; euid = 0; loginuid = UInt32.max; vpid = pid; sid = 0; pgid = 0; tty = 0
        capEffective = 0; capPermitted = 0; startNs = 0; exeFlags = 0
    }

    /// A child created by fork/clone: inherits everything but the pid.
    func forked(pid child: UInt32, at ts: UInt64) -> ProcessEntry {
        let c = ProcessEntry(pid: child, ppid: pid)
        c.comm = comm; c.exePath = exePath; c.argv0 = argv0; c.args = args; c.argsJoined = argsJoined; c.cmdline = cmdline
        c.exeline = exeline; c.argsLength = argsLength
        c.fds = fds
        c.cwd = cwd; c.cgroup = cgroup; c.containerID = containerID; c.containerKey = containerKey
        c.uid = uid; c.gid = gid; c.euid = euid; c.loginuid = loginuid; c.sid = sid; c.pgid = pgid; c.tty = tty
        c.capEffective = capEffective; c.capPermitted = capPermitted; c.exeFlags = exeFlags
        c.vpid = child
        c.startNs = ts
        return c
    }
}

/// A user of the host's user database.
public final class UserEntry {
    public let uid: UInt32
    public var gid: UInt32
    public var name: ByteString
    public var home: ByteString
    public var shell: ByteString

    init(uid: UInt32, gid: UInt32, name: ByteString, home: ByteString, shell: ByteString) {
        self.uid = uid
        self.gid = gid
        self.name = name
        self.home = home
        self.shell = shell
    }
}

/// Everything the collector knows about one sensor's host: processes, users, groups. Pure state fed with
/// records; bounded (`maxProcesses`); no I/O.
public final class HostState {
    public static let hostContainerID = ByteString("host")

    public let hostname: ByteString
    public private(set) var processes: [UInt32: ProcessEntry] = [:]
    public private(set) var users: [UInt32: UserEntry] = [:]
    public private(set) var groups: [UInt32: ByteString] = [:]
    /// Container metadata by full id (CONTAINERINFO records), bounded by `maxContainers`.
    public private(set) var containers: [String: ContainerEntry] = [:]
    public let maxContainers: Int
    /// Containers dropped to stay under `maxContainers` (the sensor also sends removals, so this stays 0 on a
    /// host whose runtime is reachable).
    public private(set) var evictedContainers = 0
    /// Bumped whenever `containers` changes, so processes re-resolve their container lazily.
    private var containerGeneration: UInt32 = 1
    /// Thread id → thread group id, for threads other than the group leader; bounded by `maxProcesses`.
    var threads: [UInt32: UInt32] = [:]
    public let maxProcesses: Int
    /// Processes dropped to stay under `maxProcesses` (oldest exited first, then placeholders).
    public private(set) var evicted = 0
    /// Thread clones not tracked because the thread table was full.
    public private(set) var untrackedThreads = 0
    /// fds not tracked because their process's table was full (`maxFDsPerProcess`).
    public internal(set) var untrackedFDs = 0
    /// Eviction candidates in the order they became candidates: processes that exited (kept while children
    /// point at them) and placeholders. Entries may be stale (the process was removed or came back to life);
    /// `evict` skips those. `queueHead` is the first unread index.
    private var evictionQueue: [ProcessEntry] = []
    private var queueHead = 0
    /// Ancestor walks (`proc.aname[n]`, `proc.aname`) stop after this many steps: pid reuse can make the
    /// parent chain a cycle, and no real process tree is this deep.
    public static let maxAncestorDepth = 256

    public init(hostname: String, maxProcesses: Int = 65_536, maxContainers: Int = 8192) {
        self.hostname = ByteString(hostname)
        self.maxProcesses = maxProcesses
        self.maxContainers = maxContainers
    }

    /// The metadata of `p`'s container: nil on the host, and for a container the sensor has not described
    /// (yet). One dictionary lookup per process after each change of the table, a comparison otherwise.
    @inline(__always) public func container(of p: ProcessEntry) -> ContainerEntry? {
        guard let key = p.containerKey else { return nil }
        if p.containerGeneration != containerGeneration {
            p.cachedContainer = containers[key]
            p.containerGeneration = containerGeneration
        }
        return p.cachedContainer
    }

    /// Applies a CONTAINERINFO record: a container's metadata, or (flags bit 4) its removal.
    func applyContainer(_ r: RecordView) {
        let id = String(decoding: r.variable(Layout.Container.id), as: UTF8.self)
        guard !id.isEmpty else { return }
        containerGeneration &+= 1
        if containerGeneration == 0 { containerGeneration = 1 }   // 0 is what a process starts with: never current
        if r.load(UInt32.self, at: Layout.Container.flags) & 16 != 0 {
            containers[id] = nil
            return
        }
        if containers[id] == nil, containers.count >= maxContainers, let victim = containers.keys.first {
            containers[victim] = nil
            evictedContainers += 1
        }
        containers[id] = ContainerEntry(r)
    }

    public var liveProcessCount: Int { processes.values.reduce(0) { $0 + ($1.alive ? 1 : 0) } }

    /// The process an event's header names, created as a placeholder when unknown.
    public func process(for pid: UInt32) -> ProcessEntry {
        if let p = processes[pid] { return p }
        let p = ProcessEntry(pid: pid, ppid: 0)
        p.placeholder = true
        insert(p)
        enqueue(p)
        return p
    }

    public func user(_ uid: UInt32) -> UserEntry? { users[uid] }

    /// The parent of `p`, if known.
    @inline(__always) public func parent(of p: ProcessEntry) -> ProcessEntry? {
        p.ppid == 0 || p.ppid == p.pid ? nil : processes[p.ppid]
    }

    /// The n-th ancestor (1 = parent); nil past `maxAncestorDepth`.
    public func ancestor(of p: ProcessEntry, _ n: Int) -> ProcessEntry? {
        guard n <= Self.maxAncestorDepth else { return nil }
        var cur: ProcessEntry? = p
        var i = 0
        while i < n, let c = cur {
            cur = parent(of: c)
            i += 1
        }
        return cur
    }

    func insert(_ p: ProcessEntry) {
        if processes.count >= maxProcesses { evict() }
        if let old = processes[p.pid] {
            forget(old)
            detach(old)
        }
        processes[p.pid] = p
        if let parent = processes[p.ppid], p.ppid != p.pid { parent.children += 1 }
    }

    /// Tells `p`'s parent it lost a child, and removes every exited ancestor that no longer has children
    /// (iteratively: a chain of exited processes may be as long as the table).
    func detach(_ p: ProcessEntry) {
        var cur = p
        while cur.ppid != cur.pid, let parent = processes[cur.ppid], parent.children > 0 {
            parent.children -= 1
            guard !parent.alive && parent.children == 0 else { return }
            forget(parent)
            cur = parent
        }
    }

    func remove(_ p: ProcessEntry) {
        guard processes[p.pid] === p else { return }
        forget(p)
        detach(p)
    }

    /// Drops `p` and its threads from the tables (its parent's child count is the caller's business).
    private func forget(_ p: ProcessEntry) {
        if processes[p.pid] === p { processes[p.pid] = nil }
        for tid in p.threadIDs where threads[tid] == p.pid { threads[tid] = nil }
        p.threadIDs = []
    }

    private func enqueue(_ p: ProcessEntry) {
        guard !p.queued else { return }
        p.queued = true
        evictionQueue.append(p)
    }

    /// Removes one process to make room: the oldest exited or placeholder entry still in the table, or, when
    /// every entry is a live known process, any one. Amortised O(1).
    func evict() {
        defer { evicted += 1 }
        while queueHead < evictionQueue.count {
            let victim = evictionQueue[queueHead]
            queueHead += 1
            victim.queued = false
            if queueHead > 4096 && queueHead * 2 > evictionQueue.count {
                evictionQueue.removeFirst(queueHead)
                queueHead = 0
            }
            if processes[victim.pid] === victim && (!victim.alive || victim.placeholder) {
                remove(victim)
                return
            }
        }
        if let any = processes.values.first { remove(any) }
    }

    // MARK: - Applying records

    /// Updates state for one record. Call before evaluating rules on exec/clone records (rules then see the
    /// new process image), and after evaluating on exit records (see `applyExit`).
    public func apply(_ r: RecordView) {
        switch r.type {
        case .execve, .execveat, .procinfo:
            applyExec(r)
        case .clone, .clone3, .fork, .vfork:
            applyClone(r)
        case .userinfo:
            let uid = r.load(UInt32.self, at: Layout.User.uid)
            users[uid] = UserEntry(uid: uid, gid: r.load(UInt32.self, at: Layout.User.gid),
                                   name: ByteString(r.variable(Layout.User.name)),
                                   home: ByteString(r.variable(Layout.User.home)),
                                   shell: ByteString(r.variable(Layout.User.shell)))
        case .groupinfo:
            groups[r.load(UInt32.self, at: Layout.Group.gid)] = ByteString(r.variable(Layout.Group.name))
        case .containerinfo:
            applyContainer(r)
        default:
            if r.type.fromKernel { applyFDs(r, process(for: r.pid)) }
        }
    }

    func applyExec(_ r: RecordView) {
        let res = r.load(Int64.self, at: Layout.Exec.res)
        guard res >= 0 else { return }   // a failed exec changes nothing
        let pid = r.pid
        let ppid = r.load(UInt32.self, at: Layout.Exec.ppid)
        let p: ProcessEntry
        if let existing = processes[pid], existing.alive {
            p = existing
            if p.ppid != ppid {
                detach(p)
                p.ppid = ppid
                if let parent = processes[ppid], ppid != pid { parent.children += 1 }
            }
        } else {
            p = ProcessEntry(pid: pid, ppid: ppid)
            insert(p)
        }
        if r.type != .procinfo { closeOnExec(p) }
        p.placeholder = false
        p.uid = r.load(UInt32.self, at: Layout.Exec.uid)
        p.gid = r.load(UInt32.self, at: Layout.Exec.gid)
        p.euid = r.load(UInt32.self, at: Layout.Exec.euid)
        p.loginuid = r.load(UInt32.self, at: Layout.Exec.loginuid)
        p.vpid = r.load(UInt32.self, at: Layout.Exec.vpid)
        p.sid = r.load(UInt32.self, at: Layout.Exec.sid)
        p.pgid = r.load(UInt32.self, at: Layout.Exec.pgid)
        p.tty = r.load(UInt32.self, at: Layout.Exec.tty)
        p.capEffective = r.load(UInt64.self, at: Layout.Exec.capEffective)
        p.capPermitted = r.load(UInt64.self, at: Layout.Exec.capPermitted)
        let start = r.load(UInt64.self, at: Layout.Exec.startNs)
        if start != 0 || r.type == .procinfo { p.startNs = start }
        p.exeFlags = r.load(UInt32.self, at: Layout.Exec.exeFlags)
        p.comm = ByteString(r.variable(Layout.Exec.comm))
        let exe = r.variable(Layout.Exec.exe)
        p.exePath = ByteString(exe.isEmpty ? r.variable(Layout.Exec.filename) : exe)
        let argv = r.variable(Layout.Exec.args)
        var items: [ByteString] = []
        var start0 = 0
        for i in 0..<argv.count where argv[i] == 0 {
            items.append(ByteString(UnsafeRawBufferPointer(rebasing: argv[start0..<i])))
            start0 = i + 1
        }
        if start0 < argv.count { items.append(ByteString(UnsafeRawBufferPointer(rebasing: argv[start0..<argv.count]))) }
        p.argv0 = items.first ?? p.comm
        p.args = Array(items.dropFirst())
        var joined: [UInt8] = []
        for (i, a) in p.args.enumerated() {
            if i > 0 { joined.append(0x20) }
            joined.append(contentsOf: a.buffer)
        }
        p.argsJoined = ByteString(joined)
        var cmd = Array(p.comm.buffer)
        if !joined.isEmpty { cmd.append(0x20); cmd += joined }
        p.cmdline = ByteString(cmd)
        var exeline = Array(p.argv0.buffer)
        if !joined.isEmpty { exeline.append(0x20); exeline += joined }
        p.exeline = ByteString(exeline)
        p.argsLength = p.args.reduce(0) { $0 + $1.buffer.count }
        p.cwd = ByteString(r.variable(Layout.Exec.cwd))
        let cg = r.variable(Layout.Exec.cgroup)
        p.cgroup = ByteString(cg)
        let id = ContainerID.parse(cg)
        if id != p.containerKey {   // a new container (or none): look it up afresh
            p.containerKey = id
            p.cachedContainer = nil
            p.containerGeneration = 0
        }
        p.containerID = id.map { ByteString($0) } ?? HostState.hostContainerID
    }

    func applyClone(_ r: RecordView) {
        let res = r.load(Int64.self, at: Layout.Clone.res)
        guard res >= 0 else { return }   // a failed clone made no task
        let childTid = UInt32(truncatingIfNeeded: res)
        let childPid = r.load(UInt32.self, at: Layout.Clone.childPid)
        let isThread = r.load(UInt32.self, at: Layout.Clone.flags) & 1 != 0
        if isThread {
            guard childTid != childPid else { return }
            guard threads.count < maxProcesses || threads[childTid] != nil else { untrackedThreads += 1; return }
            let group = process(for: childPid)
            if let before = threads.updateValue(childPid, forKey: childTid), before != childPid {
                processes[before]?.threadIDs.remove(childTid)
            }
            group.threadIDs.insert(childTid)
            return
        }
        let parent = process(for: r.pid)
        if r.varCount > 0 {
            // The parent's current name at fork time (it may have renamed itself since its exec).
            let comm = r.variable(0)
            if !comm.isEmpty && !Bytes.equal(comm, parent.comm.buffer) {
                parent.comm = ByteString(comm)
                var cmd = Array(parent.comm.buffer)
                if !parent.argsJoined.isEmpty { cmd.append(0x20); cmd += parent.argsJoined.buffer }
                parent.cmdline = ByteString(cmd)
            }
        }
        if let existing = processes[childPid], existing.alive, !existing.placeholder { return }
        insert(parent.forked(pid: childPid, at: r.ts))
    }

    /// Applies an exit record; call after rules were evaluated on it.
    public func applyExit(_ r: RecordView) {
        if r.type == .close, let p = processes[r.pid] { applyFDsAfter(r, p); return }
        guard r.type == .procexit else { return }
        let groupGone = r.load(UInt32.self, at: Layout.Exit.flags) & 1 != 0
        if !groupGone {
            if let tgid = threads.removeValue(forKey: r.tid) { processes[tgid]?.threadIDs.remove(r.tid) }
            return
        }
        guard let p = processes[r.pid] else { return }
        p.alive = false
        for tid in p.threadIDs where threads[tid] == p.pid { threads[tid] = nil }
        p.threadIDs = []
        if p.children == 0 { remove(p) } else { enqueue(p) }
    }
}

import LannerRules
