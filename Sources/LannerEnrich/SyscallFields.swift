import LannerRules
import LannerWire

/// Lanner's field provider for syscall events: every extractor reads the record or the host state and
/// appends values without copying, except for values that must be built (rendered flags, times, tuples),
/// which go into the scratch arena.
public struct SyscallFields: FieldProvider {
    public typealias Context = EventContext
    public typealias Extractor = (EventContext, EvalScratch) -> Void

    /// The Lanner event types rules can see, in code order (code = index).
    public static let ruleEventTypes: [EventType] = EventType.allCases.filter { $0.falcoName != nil }
    /// Code of each EventType raw value, -1 for internal records.
    public static let codeByRawType: [Int] = {
        var out = [Int](repeating: -1, count: Int(EventType.allCases.map(\.rawValue).max()!) + 1)
        for (i, t) in ruleEventTypes.enumerated() { out[Int(t.rawValue)] = i }
        return out
    }()
    static let typeNames: [ByteString] = EventType.allCases.map { ByteString($0.falcoName ?? $0.name) }

    public let eventTypeNames: [String] = SyscallFields.ruleEventTypes.map { $0.falcoName! }

    /// Kernel events the collector's host state needs whatever the rules say (process lifecycle); a sensor
    /// captures these plus the types some loaded rule can match.
    public static let stateEvents: Set<EventType> = Interest.lifecycleEvents

    /// The kernel event types a sensor must capture for `ruleset`: every type with a candidate rule, plus
    /// `stateEvents`, plus `socket` when a rule reads `fd.l4proto` (only socket(2) says a socket's protocol: later
    /// records carry its type, which cannot tell an ICMP ping socket from a UDP one). Everything else can be dropped
    /// in the kernel.
    public static func interest<P>(of ruleset: Ruleset<P>) -> Set<EventType> {
        var out = stateEvents
        for code in ruleset.interestingEventTypes where code < ruleEventTypes.count { out.insert(ruleEventTypes[code]) }
        if ruleset.referencedFields.contains(where: { $0.name == "fd.l4proto" }) { out.insert(.socket) }
        return out.filter(\.fromKernel)
    }

    /// Whether extracting `field` can read an open record's `nameraw` (the path as passed): `fd.nameraw`,
    /// `evt.args`, and `evt.arg`/`evt.rawarg` naming the open family's `name` argument by name or position.
    public static func readsOpenNameraw(_ field: ResolvedField) -> Bool {
        switch field.name {
        case "fd.nameraw", "evt.args": return true
        case "evt.arg", "evt.rawarg":
            let key: String
            switch field.argument {
            case .key(let k): key = k
            case .index(let i): key = String(i)
            case nil: return true
            }
            let plan = ArgumentPlan(key)
            return [EventType.open, .openat, .openat2, .creat].contains { plan.kinds[Int($0.rawValue)] == .openName }
        default: return false
        }
    }

    /// The optional record parts (`Interest.Omit`) that no rule of `ruleset` reads, so sensors may leave them out.
    public static func omittable<P>(for ruleset: Ruleset<P>) -> [String] {
        ruleset.referencedFields.contains(where: readsOpenNameraw) ? [] : [Interest.Omit.openNameraw]
    }

    public init() {}

    /// Whether Lanner supplies `field` (used by the loader for LOAD_UNSUPPORTED_FIELD). Domain-name fields
    /// (`fd.sip.name`) are derived by the rule engine from their address field, with names resolved off the
    /// event path (`DomainNames`), so they are supported when the address is.
    public static func isSupported(_ field: ResolvedField) -> Bool {
        SyscallFields().extractor(for: field.domainAddressField ?? field) != nil
    }

    // MARK: - The table

    public func extractor(for field: ResolvedField) -> Extractor? {
        let index: Int? = { if case .index(let i) = field.argument { return i } else { return nil } }()
        let key: String? = {
            switch field.argument {
            case .key(let k): return k
            case .index(let i): return String(i)
            case nil: return nil
            }
        }()
        switch field.name {
        // evt.*
        case "evt.num": return { c, s in s.append(.uint(c.eventNumber)) }
        case "evt.type": return { c, s in s.append(bytes: SyscallFields.typeNames[Int(c.record.type.rawValue) - 1].buffer) }
        case "evt.dir": return { _, s in s.append(bytes: SyscallFields.exitDir.buffer) }
        case "evt.category": return { c, s in s.append(bytes: SyscallFields.category(c.record.type).buffer) }
        case "evt.rawtime", "evt.rawtime.ns": return { c, s in s.append(.int(Int64(clamping: c.timeNs))) }
        case "evt.rawtime.s": return { c, s in s.append(.int(Int64(c.timeNs / 1_000_000_000))) }
        case "evt.time": return { c, s in s.appendCopy(Render.timeOfDay(c.timeNs).utf8) }
        case "evt.time.s": return { c, s in s.appendCopy(Render.timeOfDay(c.timeNs, nanos: false).utf8) }
        case "evt.time.iso8601": return { c, s in s.appendCopy(Render.iso8601(c.timeNs).utf8) }
        case "evt.datetime": return { c, s in s.appendCopy(Render.dateTime(c.timeNs).utf8) }
        case "evt.datetime.s": return { c, s in s.appendCopy(Render.dateTime(c.timeNs, nanos: false).utf8) }
        case "evt.hostname": return { c, s in s.append(bytes: c.host.hostname.buffer) }
        case "evt.res":
            return { c, s in
                guard c.hasResult else { return }
                if let b = ResultNames.bytes(c.res) { s.append(bytes: b.buffer) } else { s.appendCopy(Render.result(c.res).utf8) }
            }
        case "evt.rawres": return { c, s in if c.hasResult { s.append(.int(c.res)) } }
        case "evt.failed": return { c, s in if c.hasResult { s.append(.bool(c.res < 0)) } }
        case "evt.is_open_read": return { c, s in if c.isOpen { s.append(.bool(c.openFlags & 3 != 1)) } }
        case "evt.is_open_write": return { c, s in if c.isOpen { s.append(.bool(c.openFlags & 3 != 0)) } }
        case "evt.is_open_exec": return { c, s in if c.isOpen { s.append(.bool(c.openFlags & 0o10000000 != 0 && false)) } }
        case "evt.is_open_create": return { c, s in if c.isOpen { s.append(.bool(c.openFlags & 0o100 != 0)) } }
        case "evt.arg":
            guard let key else { return nil }
            let plan = ArgumentPlan(key)
            return { c, s in plan.extract(c, s, raw: false) }
        case "evt.rawarg":
            guard let key else { return nil }
            let plan = ArgumentPlan(key)
            return { c, s in plan.extract(c, s, raw: true) }
        case "evt.args": return { c, s in SyscallFields.allArguments(c, s) }
        case "evt.source": return { _, s in s.append(bytes: SyscallFields.syscallSource.buffer) }

        // proc.* — the acting process and its ancestors.
        case "proc.pid": return { c, s in s.append(.int(Int64(c.process.pid))) }
        case "proc.ppid": return { c, s in s.append(.int(Int64(c.process.ppid))) }
        case "proc.vpid": return { c, s in s.append(.int(Int64(c.process.vpid))) }
        case "proc.sid": return { c, s in s.append(.int(Int64(c.process.sid))) }
        case "proc.vpgid", "proc.pgid": return { c, s in s.append(.int(Int64(c.process.pgid))) }
        case "proc.is_sid_leader": return { c, s in s.append(.bool(c.process.sid == c.process.vpid)) }
        case "proc.is_vpgid_leader", "proc.is_pgid_leader": return { c, s in s.append(.bool(c.process.pgid == c.process.vpid)) }
        case "proc.tty": return { c, s in s.append(.int(Int64(c.process.tty))) }
        case "proc.name": return Self.known { $0.comm }
        case "proc.exe": return Self.known { $0.argv0 }
        case "proc.exepath": return Self.known { $0.exePath }
        case "proc.cmdline": return Self.known { $0.cmdline }
        case "proc.cwd": return Self.known { $0.cwd }
        case "proc.args":
            if let index { return { c, s in if index < c.process.args.count { s.append(bytes: c.process.args[index].buffer) } } }
            return { c, s in if !c.process.placeholder { s.append(bytes: c.process.argsJoined.buffer) } }
        case "proc.duration":
            return { c, s in if c.process.startNs > 0 { s.append(.int(Self.duration(c.record.ts, since: c.process.startNs))) } }
        case "proc.start_ts":
            return { c, s in if c.process.startNs > 0 { s.append(.int(Self.startTime(c, c.process.startNs))) } }
        case "proc.is_exe_upper_layer": return { c, s in s.append(.bool(c.process.exeFlags & 1 != 0)) }
        case "proc.is_exe_from_memfd": return { c, s in s.append(.bool(c.process.exeFlags & 2 != 0)) }
        case "proc.is_exe_writable": return { c, s in s.append(.bool(c.process.exeFlags & 4 != 0)) }
        case "proc.is_exe_lower_layer": return { c, s in s.append(.bool(c.process.exeFlags & 8 != 0)) }
        case "proc.is_exe_written": return { c, s in s.append(.bool(c.process.exeFlags & 16 != 0)) }
        case "proc.pname": return Self.parent { $0.comm }
        case "proc.pexe": return Self.parent { $0.argv0 }
        case "proc.pexepath": return Self.parent { $0.exePath }
        case "proc.pcmdline": return Self.parent { $0.cmdline }
        case "proc.pvpid": return { c, s in if let p = c.host.parent(of: c.process) { s.append(.int(Int64(p.vpid))) } }
        case "proc.sname":
            return { c, s in
                if let leader = c.host.processes[c.process.sid], !leader.placeholder { s.append(bytes: leader.comm.buffer) }
            }
        case "proc.aname": return Self.ancestors(index) { s, p in s.append(bytes: p.comm.buffer) }
        case "proc.aexe": return Self.ancestors(index) { s, p in s.append(bytes: p.argv0.buffer) }
        case "proc.aexepath": return Self.ancestors(index) { s, p in s.append(bytes: p.exePath.buffer) }
        case "proc.acmdline": return Self.ancestors(index) { s, p in s.append(bytes: p.cmdline.buffer) }
        case "proc.apid": return Self.ancestors(index) { s, p in s.append(.int(Int64(p.pid))) }
        case "proc.aargs": return Self.ancestors(index) { s, p in s.append(bytes: p.argsJoined.buffer) }
        case "proc.exeline": return Self.known { $0.exeline }
        case "proc.cmdnargs": return { c, s in if !c.process.placeholder { s.append(.uint(UInt64(c.process.args.count))) } }
        case "proc.cmdlenargs": return { c, s in if !c.process.placeholder { s.append(.uint(UInt64(c.process.argsLength))) } }
        case "proc.sid.exe": return Self.leader(\.sid) { $0.argv0 }
        case "proc.sid.exepath": return Self.leader(\.sid) { $0.exePath }
        case "proc.pgid.name", "proc.vpgid.name": return Self.leader(\.pgid) { $0.comm }
        case "proc.pgid.exe", "proc.vpgid.exe": return Self.leader(\.pgid) { $0.argv0 }
        case "proc.pgid.exepath", "proc.vpgid.exepath": return Self.leader(\.pgid) { $0.exePath }
        case "proc.pid.ts":
            return { c, s in if c.process.startNs > 0 { s.append(.int(Self.startTime(c, c.process.startNs))) } }
        case "proc.ppid.ts":
            return { c, s in if let p = c.host.parent(of: c.process), p.startNs > 0 { s.append(.int(Self.startTime(c, p.startNs))) } }
        case "proc.ppid.duration":
            return { c, s in if let p = c.host.parent(of: c.process), p.startNs > 0 { s.append(.int(Self.duration(c.record.ts, since: p.startNs))) } }
        case "proc.nthreads": return { c, s in s.append(.uint(UInt64(c.process.threadIDs.count + 1))) }
        case "proc.nchilds": return { c, s in s.append(.uint(UInt64(c.process.threadIDs.count))) }
        case "thread.ismain": return { c, s in s.append(.bool(c.record.tid == c.record.pid)) }

        // thread.*
        case "thread.tid": return { c, s in s.append(.int(Int64(c.record.tid))) }
        case "thread.vtid": return { c, s in s.append(.int(Int64(c.record.tid))) }
        case "thread.cap_effective":
            let cache = RenderCache { Render.capabilities($0) }
            return { c, s in cache.append(c.process.capEffective, to: s) }
        case "thread.cap_permitted":
            let cache = RenderCache { Render.capabilities($0) }
            return { c, s in cache.append(c.process.capPermitted, to: s) }

        // user.* and group.*
        case "user.uid": return { c, s in s.append(.uint(UInt64(c.process.uid))) }
        case "user.name": return { c, s in if let u = c.host.user(c.process.uid) { s.append(bytes: u.name.buffer) } }
        case "user.homedir": return { c, s in if let u = c.host.user(c.process.uid) { s.append(bytes: u.home.buffer) } }
        case "user.shell": return { c, s in if let u = c.host.user(c.process.uid) { s.append(bytes: u.shell.buffer) } }
        case "user.loginuid": return { c, s in s.append(.int(c.process.loginuid == UInt32.max ? -1 : Int64(c.process.loginuid))) }
        case "user.loginname":
            return { c, s in
                if c.process.loginuid != UInt32.max, let u = c.host.user(c.process.loginuid) { s.append(bytes: u.name.buffer) }
            }
        case "group.gid": return { c, s in s.append(.uint(UInt64(c.process.gid))) }
        case "group.name": return { c, s in if let g = c.host.groups[c.process.gid] { s.append(bytes: g.buffer) } }

        // container.* and k8s.*: the id from the cgroup path, the rest from the runtime's metadata (CONTAINERINFO),
        // <NA> for a container the sensor has not described yet.
        case "container.id":
            return { c, s in
                let id = c.process.containerID.buffer
                s.append(bytes: id.count > 12 ? UnsafeRawBufferPointer(rebasing: id[0..<12]) : id)
            }
        case "container.full_id": return { c, s in s.append(bytes: c.process.containerID.buffer) }
        case "container.name": return Self.container(host: HostState.hostContainerID) { $0.name }
        case "container.type": return Self.container(host: HostState.hostContainerID) { $0.type }
        case "container.image": return Self.container { $0.image }
        case "container.image.repository": return Self.container { $0.imageRepository }
        case "container.image.tag": return Self.container { $0.imageTag }
        case "container.image.digest": return Self.container { $0.imageDigest }
        case "container.image.id": return Self.container { $0.imageID }
        case "container.privileged":
            return { c, s in
                if c.onHost { s.append(.bool(false)) } else if let e = c.container { s.append(.bool(e.privileged)) }
            }
        case "container.host_pid": return { c, s in if let e = c.container { s.append(.bool(e.hostPID)) } }
        case "container.host_network": return { c, s in if let e = c.container { s.append(.bool(e.hostNetwork)) } }
        case "container.host_ipc": return { c, s in if let e = c.container { s.append(.bool(e.hostIPC)) } }
        case "container.mounts": return { c, s in if let e = c.container { s.append(bytes: e.mountsText.buffer) } }
        case "container.mount", "container.mount.source", "container.mount.dest", "container.mount.mode",
             "container.mount.rdwr", "container.mount.propagation":
            return Self.mount(field.name, field.argument)
        case "container.start_ts": return { c, s in if let e = c.container, e.startedNs > 0 { s.append(.int(Int64(clamping: e.startedNs))) } }
        case "container.duration":
            return { c, s in if let e = c.container, e.startedNs > 0 { s.append(.int(Self.duration(c.timeNs, since: e.startedNs))) } }
        case "container.label":
            guard let key else { return nil }
            return { c, s in if let v = c.container?.labels[key] { s.append(bytes: v.buffer) } }
        case "container.labels": return Self.container { $0.labelsText }
        case "container.ip", "container.cni.json":
            // Not sent by the sensor yet (the containers this is tested with have no network of their own).
            return { _, _ in }
        case "k8s.pod.name": return Self.container { $0.podName }
        case "k8s.ns.name": return Self.container { $0.podNamespace }
        case "k8s.pod.uid", "k8s.pod.id": return Self.container { $0.podUID }
        case "k8s.pod.full_sandbox_id": return Self.container { $0.sandboxID }
        case "k8s.pod.sandbox_id": return Self.container { $0.sandboxShortID }
        case "k8s.pod.labels": return Self.container { $0.podName == nil ? nil : $0.labelsText }
        case "k8s.pod.label":
            guard let key else { return nil }
            return { c, s in if let e = c.container, e.podName != nil, let v = e.labels[key] { s.append(bytes: v.buffer) } }
        case "marathon.app.id": return Self.container { $0.marathonAppID }

        // fd.* — the file or socket of the event.
        case "fd.num": return { c, s in if let n = c.fdNum { s.append(.int(n)) } }
        case "fd.name": return { c, s in c.fdName(s) }
        case "fd.nameraw":
            // An open whose nameraw is empty had it left out by its sensor (no rule read it then; a path as passed is
            // never empty for an open that succeeded): no value rather than a wrong one. Later events on the fd get the
            // path the open was passed, kept in the fd table when it differs from the name (`fdNameRaw`).
            return { c, s in
                if c.isOpen {
                    let raw = c.record.variable(Layout.Open.nameraw)
                    if raw.count > 0 || c.res < 0 { s.append(bytes: raw) }
                } else {
                    c.fdNameRaw(s)
                }
            }
        case "fd.directory": return { c, s in if let p = c.filePath() { s.append(bytes: PathParts.directory(p)) } }
        case "fd.filename": return { c, s in if let p = c.filePath() { s.append(bytes: PathParts.filename(p)) } }
        case "fd.typechar": return { c, s in if let t = c.fdKind { s.append(bytes: t.char.buffer) } }
        case "fd.type": return { c, s in if let t = c.fdKind { s.append(bytes: t.name.buffer) } }
        case "fd.l4proto": return { c, s in if let p = c.l4proto { s.append(bytes: p.buffer) } }
        case "fd.sockfamily": return { c, s in if let f = c.sockFamily { s.append(bytes: f.buffer) } }
        case "fd.dev": return { c, s in if c.isOpen, c.res >= 0 { s.append(.uint(UInt64(c.record.load(UInt32.self, at: Layout.Open.dev)))) } }
        case "fd.ino": return { c, s in if c.isOpen, c.res >= 0 { s.append(.uint(c.record.load(UInt64.self, at: Layout.Open.ino))) } }
        case "fd.cip", "fd.cnet": return { c, s in if let a = c.clientServer.client { s.append(.ip(a)) } }
        case "fd.sip", "fd.snet": return { c, s in if let a = c.clientServer.server { s.append(.ip(a)) } }
        case "fd.lip", "fd.lnet": return { c, s in if let a = c.localAddress { s.append(.ip(a)) } }
        case "fd.rip", "fd.rnet": return { c, s in if let a = c.remoteAddress { s.append(.ip(a)) } }
        case "fd.ip", "fd.net":
            return { c, s in
                if let a = c.localAddress { s.append(.ip(a)) }
                if let b = c.remoteAddress { s.append(.ip(b)) }
            }
        case "fd.cport": return { c, s in if let p = c.clientServer.cport { s.append(.uint(UInt64(p))) } }
        case "fd.sport": return { c, s in if let p = c.clientServer.sport { s.append(.uint(UInt64(p))) } }
        case "fd.lport": return { c, s in if let p = c.localPort { s.append(.uint(UInt64(p))) } }
        case "fd.rport": return { c, s in if let p = c.remotePort { s.append(.uint(UInt64(p))) } }
        case "fd.port":
            return { c, s in
                if let p = c.localPort { s.append(.uint(UInt64(p))) }
                if let p = c.remotePort { s.append(.uint(UInt64(p))) }
            }
        case "fd.is_server": return { c, s in if let b = c.isServerSocket { s.append(.bool(b)) } }
        case "fd.connected":
            return { c, s in
                if c.record.type == .connect { s.append(.bool(c.res == 0)) } else if c.isSocket, let e = c.fdEntry { s.append(.bool(e.remote != nil || e.family == 1)) }
            }
        case "fd.name_changed": return { c, s in if c.record.type == .connect { s.append(.bool(false)) } }
        default:
            return nil
        }
    }

    // MARK: - Helpers

    // Times come from records (ts, a process's start, a container's start: any UInt64 a sensor, a corrupt batch or a
    // hostile one sends). They are combined in wrapping UInt64 arithmetic, which is exact whenever the true result
    // fits, and converted without trapping: an absolute time past Int64.max is clamped, a difference is taken as
    // the signed value its bits say (a start after the event is a negative duration, as before).

    /// `now - start` in ns.
    @inline(__always) static func duration(_ now: UInt64, since start: UInt64) -> Int64 { Int64(bitPattern: now &- start) }

    /// The epoch time of `startNs` (a boot-clock time on the event's host): the event's time minus how long ago it was.
    @inline(__always) static func startTime(_ c: EventContext, _ startNs: UInt64) -> Int64 {
        Int64(clamping: c.timeNs &- (c.record.ts &- startNs))
    }

    static let exitDir = ByteString("<")
    static let syscallSource = ByteString("syscall")
    static let categories = (process: ByteString("process"), file: ByteString("file"), net: ByteString("net"),
                             other: ByteString("other"), ioRead: ByteString("io_read"), ioWrite: ByteString("io_write"),
                             ipc: ByteString("ipc"), memory: ByteString("memory"), signal: ByteString("signal"),
                             system: ByteString("system"))

    /// Falco's evt.category names.
    static func category(_ t: EventType) -> ByteString {
        switch t {
        case .execve, .execveat, .clone, .clone3, .fork, .vfork, .procexit, .setuid, .setgid, .setresuid, .setresgid,
             .setreuid, .setregid, .capset, .prctl, .ptrace, .chdir, .fchdir, .chroot, .setns, .unshare:
            return categories.process
        case .open, .openat, .openat2, .creat, .close, .dup, .dup2, .dup3, .rename, .renameat, .renameat2, .unlink, .unlinkat,
             .mkdir, .mkdirat, .rmdir, .link, .linkat, .symlink, .symlinkat, .chmod, .fchmod, .fchmodat, .chown, .fchown,
             .fchownat, .lchown, .mount, .umount2, .memfdCreate, .ioctl, .splice:
            return categories.file
        case .connect, .socket, .bind, .listen, .accept, .accept4, .sendto, .sendmsg, .recvfrom, .recvmsg, .socketpair:
            return categories.net
        case .read, .pread64, .readv: return categories.ioRead
        case .write, .pwrite64, .writev: return categories.ioWrite
        case .pipe, .pipe2: return categories.ipc
        case .mmap, .mprotect, .userfaultfd: return categories.memory
        case .kill: return categories.signal
        case .initModule, .finitModule, .bpf: return categories.system
        default: return categories.other
        }
    }

    /// A string of the acting process's container metadata; `host` is what a host process gets (nil: nothing).
    static func container(host: ByteString? = nil, _ get: @escaping (ContainerEntry) -> ByteString?) -> Extractor {
        { c, s in
            if c.onHost {
                if let host { s.append(bytes: host.buffer) }
            } else if let e = c.container, let v = get(e) {
                s.append(bytes: v.buffer)
            }
        }
    }

    /// container.mount[SEL] and container.mount.PART[SEL], as Falco selects: SEL is a mount's index, or a glob
    /// matched against the mount's source — except for container.mount.source, whose glob matches the
    /// destination (`container.mount.source[/host/proc]`, `container.mount.dest[/proc*]`).
    static func mount(_ name: String, _ argument: ResolvedField.Argument?) -> Extractor? {
        let part: (ContainerMount) -> ByteString
        switch name {
        case "container.mount": part = { $0.text }
        case "container.mount.source": part = { $0.source }
        case "container.mount.dest": part = { $0.dest }
        case "container.mount.mode": part = { $0.mode }
        case "container.mount.rdwr": part = { $0.rdwr }
        default: part = { $0.propagation }
        }
        switch argument {
        case .index(let i):
            return { c, s in if let e = c.container, i >= 0, i < e.mounts.count { s.append(bytes: part(e.mounts[i]).buffer) } }
        case .key(let k):
            let glob = Glob(k)
            let byDestination = name == "container.mount.source"
            return { c, s in
                if let e = c.container, let m = e.mount(matching: glob, byDestination: byDestination) { s.append(bytes: part(m).buffer) }
            }
        case nil:
            return nil
        }
    }

    /// A process string, present unless the process is only known by its pid.
    static func known(_ get: @escaping (ProcessEntry) -> ByteString) -> Extractor {
        { c, s in if !c.process.placeholder { s.append(bytes: get(c.process).buffer) } }
    }

    /// A string of the session or process-group leader (`which` picks the id), when the leader is known.
    static func leader(_ which: KeyPath<ProcessEntry, UInt32>, _ get: @escaping (ProcessEntry) -> ByteString) -> Extractor {
        { c, s in
            let id = c.process[keyPath: which]
            if id != 0, let l = c.host.processes[id], !l.placeholder { s.append(bytes: get(l).buffer) }
        }
    }

    static func parent(_ get: @escaping (ProcessEntry) -> ByteString) -> Extractor {
        { c, s in if let p = c.host.parent(of: c.process), !p.placeholder { s.append(bytes: get(p).buffer) } }
    }

    /// `proc.aname[n]` (n = 0 is the process itself, 1 its parent), or every ancestor without an index.
    static func ancestors(_ index: Int?, _ put: @escaping (EvalScratch, ProcessEntry) -> Void) -> Extractor {
        if let index {
            return { c, s in if let a = c.host.ancestor(of: c.process, index), !a.placeholder { put(s, a) } }
        }
        return { c, s in
            var cur = c.host.parent(of: c.process)
            var depth = 0
            while let p = cur, depth < HostState.maxAncestorDepth {
                if !p.placeholder { put(s, p) }
                cur = c.host.parent(of: p)
                depth += 1
            }
        }
    }
}

/// Directory and file name parts of a path, as slices of it.
enum PathParts {
    static func directory(_ p: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let slash = p.lastIndex(of: 0x2f) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: p[0..<(slash == 0 ? 1 : slash)])
    }

    static func filename(_ p: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let slash = p.lastIndex(of: 0x2f) else { return p }
        return UnsafeRawBufferPointer(rebasing: p[(slash + 1)..<p.count])
    }
}
