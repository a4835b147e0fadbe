import LannerRules
import LannerWire

/// What an event's file descriptor is, as Falco's fd.type / fd.typechar name it.
struct FDKind: Sendable {
    let name: ByteString
    let char: ByteString

    static let file = FDKind(name: ByteString("file"), char: ByteString("f"))
    static let directory = FDKind(name: ByteString("directory"), char: ByteString("d"))
    static let ipv4 = FDKind(name: ByteString("ipv4"), char: ByteString("4"))
    static let ipv6 = FDKind(name: ByteString("ipv6"), char: ByteString("6"))
    static let unix = FDKind(name: ByteString("unix"), char: ByteString("u"))
    static let socket = FDKind(name: ByteString("socket"), char: ByteString("s"))
    static let netlink = FDKind(name: ByteString("netlink"), char: ByteString("n"))
    static let pipe = FDKind(name: ByteString("pipe"), char: ByteString("p"))
    static let event = FDKind(name: ByteString("event"), char: ByteString("e"))
    static let signalfd = FDKind(name: ByteString("signalfd"), char: ByteString("s"))
    static let eventpoll = FDKind(name: ByteString("eventpoll"), char: ByteString("l"))
    static let inotify = FDKind(name: ByteString("inotify"), char: ByteString("i"))
    static let timerfd = FDKind(name: ByteString("timerfd"), char: ByteString("t"))
    static let bpf = FDKind(name: ByteString("bpf"), char: ByteString("b"))
    static let userfaultfd = FDKind(name: ByteString("userfaultfd"), char: ByteString("u"))
    static let iouring = FDKind(name: ByteString("io_uring"), char: ByteString("r"))
    static let memfd = FDKind(name: ByteString("memfd"), char: ByteString("m"))
    static let unknown = FDKind(name: ByteString("unknown"), char: ByteString("o"))

    /// The kind of a socket of address family `domain`.
    static func socketKind(_ domain: UInt16) -> FDKind {
        switch domain {
        case 1: return .unix
        case 2: return .ipv4
        case 10: return .ipv6
        case 16: return .netlink
        default: return .socket
        }
    }
    static let familyIP = ByteString("ip")
    static let familyUnix = ByteString("unix")
}

extension EventContext {
    /// Whether the event type has a result (evt.res): syscalls, not process exits.
    var hasResult: Bool { record.type != .procexit }

    @inline(__always) var fdLayout: FDLayout? { FDLayout.byType[Int(record.type.rawValue)] }

    /// The event's own socket fields, when it has them and they name a family.
    @inline(__always) var eventSocket: SocketLayout? {
        guard let l = fdLayout?.socket, record.load(UInt16.self, at: l.family) != 0 else { return nil }
        return l
    }

    /// fd.num: the new fd of an fd-creating event (-1 when it failed), else the fd argument.
    var fdNum: Int64? {
        guard let l = fdLayout else { return nil }
        switch l.source {
        case .none: return nil
        case .result: return max(res, -1)
        case .field(let off): return Int64(record.load(Int32.self, at: off))
        }
    }

    /// The process's table entry for the event's fd (the event's own changes already applied).
    var fdEntry: FDEntry? {
        guard let n = fdNum, n >= 0, n <= Int64(Int32.max) else { return nil }
        return process.fds[Int32(n)]
    }

    /// The fd's path as the kernel resolved it while the syscall ran (close, dup, fchmod, mmap, …), or empty.
    var fdPath: UnsafeRawBufferPointer {
        guard let l = fdLayout, l.fdpath >= 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return record.variable(l.fdpath)
    }

    var family: UInt16 {
        if let l = eventSocket { return record.load(UInt16.self, at: l.family) }
        return fdEntry?.family ?? 0
    }
    var isSocket: Bool { family != 0 }
    var isInet: Bool { family == 2 || family == 10 }

    var fdKind: FDKind? {
        if isOpen { return openFlags & 0o200000 != 0 ? .directory : .file }
        if eventSocket != nil { return FDKind.socketKind(family) }
        if let e = fdEntry { return e.kind }
        let p = fdPath
        if !p.isEmpty { return FDEntry.classify(path: p) }
        if record.type == .socket && res >= 0 {
            return FDKind.socketKind(UInt16(truncatingIfNeeded: record.load(UInt32.self, at: HostState.offset(.socket, "domain"))))
        }
        return nil
    }

    /// fd.l4proto: what the fd table knows of the socket (its protocol, from the socket(2) call), unless the event's own
    /// socket type says the entry is another socket; else what the event's (or the entry's) socket type says.
    var l4proto: ByteString? {
        guard isInet else { return nil }
        let entry = fdEntry
        if let l = eventSocket, l.socktype >= 0 {
            let type = record.load(UInt16.self, at: l.socktype)
            if let e = entry, e.family == family, e.socktype == type { return e.l4.name }
            return L4Proto(socktype: type).name
        }
        return (entry?.l4 ?? .unknown).name
    }

    var sockFamily: ByteString? {
        guard isSocket else { return nil }
        return family == 1 ? FDKind.familyUnix : FDKind.familyIP
    }

    func address(at offset: Int) -> IPAddress? {
        guard offset >= 0 else { return nil }
        let b = record.bytes16(at: offset)
        return family == 2 ? IPAddress(bytes: b[0..<4]) : IPAddress(bytes: b)
    }

    /// The socket's local end (the client side of an outbound connection).
    var localAddress: IPAddress? {
        guard isInet else { return nil }
        if let l = eventSocket { return address(at: l.saddr) }
        return fdEntry?.local
    }
    /// The remote end.
    var remoteAddress: IPAddress? {
        guard isInet else { return nil }
        if let l = eventSocket { return address(at: l.daddr) }
        return fdEntry?.remote
    }
    var localPort: UInt16? {
        guard isInet else { return nil }
        if let l = eventSocket { return l.sport >= 0 ? record.load(UInt16.self, at: l.sport) : nil }
        return fdEntry?.lport
    }
    var remotePort: UInt16? {
        guard isInet else { return nil }
        if let l = eventSocket { return l.dport >= 0 ? record.load(UInt16.self, at: l.dport) : nil }
        return fdEntry?.rport
    }

    /// Falco's fd.is_server: the fd is a listening or accepted socket.
    var isServerSocket: Bool? {
        switch record.type {
        case .accept, .accept4, .listen: return true
        case .connect: return false
        default: return isSocket ? (fdEntry?.isServer ?? false) : nil
        }
    }

    /// Client and server ends (Falco's cip/sip): local is the client unless the socket is a server's.
    var clientServer: (client: IPAddress?, cport: UInt16?, server: IPAddress?, sport: UInt16?) {
        if isServerSocket == true { return (remoteAddress, remotePort, localAddress, localPort) }
        return (localAddress, localPort, remoteAddress, remotePort)
    }

    /// The event's socket as Falco names it: `cip:cport->sip:sport`, a unix path, or (`local`) `ip:port`.
    func socketName(_ s: EvalScratch, local: Bool) {
        guard let l = eventSocket else {
            if let e = fdEntry, e.family != 0 { s.append(bytes: e.name.buffer) }
            return
        }
        if family == 1 {
            if l.path >= 0 { s.append(bytes: record.variable(l.path)) }
            return
        }
        guard isInet else { return }
        if local || l.daddr < 0 {
            guard let a = localAddress else { return }
            s.appendCopy("\(a):\(localPort ?? 0)".utf8)
            return
        }
        let cs = clientServer
        guard let c = cs.client, let v = cs.server else { return }
        s.appendCopy("\(c):\(cs.cport ?? 0)->\(v):\(cs.sport ?? 0)".utf8)
    }

    /// fd.name: the path of an open, the socket's name, the table entry's name, or the kernel's fd path.
    func fdName(_ s: EvalScratch) {
        if isOpen {
            s.append(bytes: record.variable(Layout.Open.name))
            return
        }
        if eventSocket != nil {
            socketName(s, local: record.type == .bind || record.type == .listen)
            return
        }
        if let e = fdEntry {
            if !e.name.buffer.isEmpty { s.append(bytes: e.name.buffer) }
            return
        }
        let p = fdPath
        if !p.isEmpty { s.append(bytes: p) }
    }

    /// fd.nameraw on an event that is not an open: the path the fd was opened with when it differs from fd.name, no
    /// value when the open's sensor left that path out (as on the open itself), else fd.name.
    func fdNameRaw(_ s: EvalScratch) {
        if eventSocket == nil, let e = fdEntry {
            switch e.raw {
            case .kept:
                s.append(bytes: unsafeDowncast(e, to: RawNamedFDEntry.self).keptRawName.buffer)
                return
            case .omitted: return
            case .name, .same: break
            }
        }
        fdName(s)
    }

    /// The file path behind the event's fd, for fd.directory / fd.filename (files and directories only).
    func filePath() -> UnsafeRawBufferPointer? {
        if isOpen { return record.variable(Layout.Open.name) }
        guard let k = fdKind, k.char === FDKind.file.char || k.char === FDKind.directory.char || k.char === FDKind.memfd.char else { return nil }
        if let e = fdEntry { return e.name.buffer }
        let p = fdPath
        return p.isEmpty ? nil : p
    }
}

extension SyscallFields {
    /// Falco's argument names per event, in parameter order (evt.arg[N] is the N-th).
    static func argumentNames(_ t: EventType) -> [String] {
        if let specs = ArgumentTable.specs[Int(t.rawValue)] { return specs.map(\.name) }
        switch t {
        case .open: return ["fd", "name", "flags", "mode", "dev", "ino"]
        case .openat: return ["fd", "dirfd", "name", "flags", "mode", "dev", "ino"]
        case .openat2: return ["fd", "dirfd", "name", "flags", "mode", "resolve", "dev", "ino"]
        case .creat: return ["fd", "name", "mode", "dev", "ino"]
        case .connect: return ["res", "tuple", "fd"]
        case .execve, .execveat: return ["res", "exe", "args", "tid", "pid", "ptid", "cwd", "comm", "cgroups", "tty", "loginuid", "flags", "cap_permitted", "cap_effective", "uid", "gid", "pgid", "trusted_exepath"]
        case .clone, .clone3, .fork, .vfork: return ["res", "exe", "args", "tid", "pid", "ptid", "cwd", "comm", "flags", "uid", "gid"]
        case .procexit: return ["status", "ret"]
        default: return []
        }
    }

    /// evt.arg.NAME / evt.arg[N] (rendered) and evt.rawarg.NAME (raw numbers where the argument is one).
    static func argument(_ key: String, _ c: EventContext, _ s: EvalScratch, raw: Bool) {
        ArgumentPlan(key).extract(c, s, raw: raw)
    }

    /// evt.args: every argument as `name=value`, space-separated.
    static func allArguments(_ c: EventContext, _ s: EvalScratch) {
        var out = ""
        let tmp = EvalScratch()
        for name in argumentNames(c.record.type) {
            tmp.beginEvent()
            let plan = ArgumentPlan(name)
            // The plan's render caches own the bytes a value may point at: read them while it lives.
            withExtendedLifetime(plan) {
                plan.extract(c, tmp, raw: false)
                guard let first = tmp.extractedValues.first, case .bytes(let b) = first else { return }
                if !out.isEmpty { out += " " }
                out += name + "=" + String(decoding: b, as: UTF8.self)
            }
        }
        s.appendCopy(out.utf8)
    }
}

/// What `evt.arg.KEY` means for each event type, worked out once when the extractor is made: per event the
/// extractor switches on a small enum instead of comparing names. Flag and capability renderings are cached.
final class ArgumentPlan {
    enum Kind: UInt8 {
        case none, openFd, openDirfd, openName, openFlags, openMode, openDev, openIno
        case connRes, connFd, connTuple
        case res, exe, args, tid, pid, ptid, cwd, comm, cgroups, tty, loginuid, execFlags, cloneFlags
        case capPermitted, capEffective, uid, gid, pgid, trustedExepath
        case exitStatus, exitRet
        /// Described by `ArgumentTable`: `specs[type]` says where and how.
        case table
    }

    let kinds: [Kind]
    /// For `.table` kinds, by event raw value.
    let specs: [ArgSpec?]
    /// Renderings of named values (flags, enums, modes, capabilities, signals), cached per event type.
    let tableCaches: [RenderCache?]
    let flags = RenderCache { Render.openFlags(UInt32(truncatingIfNeeded: $0)) }
    let exeFlags = RenderCache { Render.exeFlags(UInt32(truncatingIfNeeded: $0)) }
    let caps = RenderCache { Render.capabilities($0) }

    init(_ key: String) {
        var out = [Kind](repeating: .none, count: Int(EventType.allCases.map(\.rawValue).max()!) + 1)
        var specs = [ArgSpec?](repeating: nil, count: out.count)
        var caches = [RenderCache?](repeating: nil, count: out.count)
        for t in EventType.allCases {
            if let table = ArgumentTable.specs[Int(t.rawValue)] {
                let spec = Int(key).map { $0 >= 0 && $0 < table.count ? table[$0] : nil } ?? table.first { $0.name == key }
                if let spec {
                    out[Int(t.rawValue)] = .table
                    specs[Int(t.rawValue)] = spec
                    switch spec.rendering {
                    case .mode: caches[Int(t.rawValue)] = RenderCache { ArgumentTable.modeBits.flags($0) }
                    case .flags(let n): caches[Int(t.rawValue)] = RenderCache { n.flags($0) }
                    case .enumeration(let n): caches[Int(t.rawValue)] = RenderCache { n.enumeration($0) }
                    case .capabilities: caches[Int(t.rawValue)] = RenderCache { Render.capabilities($0) }
                    case .signal: caches[Int(t.rawValue)] = RenderCache { ArgumentTable.signals.enumeration($0) }
                    default: break
                    }
                }
                continue
            }
            let names = SyscallFields.argumentNames(t)
            let name: String?
            if let i = Int(key) { name = i >= 0 && i < names.count ? names[i] : nil } else { name = names.contains(key) ? key : nil }
            guard let name else { continue }
            out[Int(t.rawValue)] = ArgumentPlan.kind(t, name)
        }
        kinds = out
        self.specs = specs
        tableCaches = caches
    }

    static func kind(_ t: EventType, _ name: String) -> Kind {
        switch t {
        case .open, .openat, .openat2, .creat:
            switch name {
            case "fd": return .openFd
            case "dirfd": return .openDirfd
            case "name": return .openName
            case "flags": return .openFlags
            case "mode": return .openMode
            case "dev": return .openDev
            case "ino": return .openIno
            default: return .none
            }
        case .connect:
            switch name {
            case "res": return .connRes
            case "fd": return .connFd
            case "tuple": return .connTuple
            default: return .none
            }
        case .execve, .execveat, .clone, .clone3, .fork, .vfork:
            switch name {
            case "res": return .res
            case "exe": return .exe
            case "args": return .args
            case "tid": return .tid
            case "pid": return .pid
            case "ptid": return .ptid
            case "cwd": return .cwd
            case "comm": return .comm
            case "cgroups": return .cgroups
            case "tty": return .tty
            case "loginuid": return .loginuid
            case "flags": return t == .execve || t == .execveat ? .execFlags : .cloneFlags
            case "cap_permitted": return .capPermitted
            case "cap_effective": return .capEffective
            case "uid": return .uid
            case "gid": return .gid
            case "pgid": return .pgid
            case "trusted_exepath": return .trustedExepath
            default: return .none
            }
        case .procexit:
            return name == "status" ? .exitStatus : (name == "ret" ? .exitRet : .none)
        default:
            return .none
        }
    }

    @inline(__always)
    func extract(_ c: EventContext, _ s: EvalScratch, raw: Bool) {
        let r = c.record
        let p = c.process
        @inline(__always) func num(_ n: Int64) {
            if raw { s.append(.int(n)) } else { s.appendDecimal(n) }
        }
        switch kinds[Int(r.type.rawValue)] {
        case .none: return
        case .openFd:
            let res = r.load(Int64.self, at: Layout.Open.res)
            if raw || res >= 0 { num(res) } else { s.appendCopy(Render.resultArgument(res).utf8) }
        case .openDirfd:
            let d = Int64(r.load(Int32.self, at: Layout.Open.dirfd))
            if raw { s.append(.int(d)) } else if d == -100 { s.append(bytes: ArgumentPlan.atFdcwd.buffer) } else { s.appendDecimal(d) }
        case .openName:
            // empty for a successful open: its sensor left it out (Interest.Omit.openNameraw), so no value
            let raw = r.variable(Layout.Open.nameraw)
            if raw.count > 0 || r.load(Int64.self, at: Layout.Open.res) < 0 { s.append(bytes: raw) }
        case .openFlags:
            let f = r.load(UInt32.self, at: Layout.Open.flags)
            if raw { s.append(.uint(UInt64(f))) } else { flags.append(UInt64(f), to: s) }
        case .openMode:
            let m = r.load(UInt32.self, at: Layout.Open.mode)
            if raw { s.append(.uint(UInt64(m))) } else { s.appendCopy(("0" + String(m, radix: 8)).utf8) }
        case .openDev: num(Int64(r.load(UInt32.self, at: Layout.Open.dev)))
        case .openIno: num(Int64(bitPattern: r.load(UInt64.self, at: Layout.Open.ino)))
        case .connRes:
            let res = r.load(Int64.self, at: Layout.Connect.res)
            if raw || res == 0 { num(res) } else { s.appendCopy(Render.resultArgument(res).utf8) }
        case .connFd: num(Int64(r.load(Int32.self, at: Layout.Connect.fd)))
        case .connTuple: c.fdName(s)
        case .res: num(c.res)
        case .exe: s.append(bytes: p.argv0.buffer)
        case .args: s.append(bytes: p.argsJoined.buffer)
        case .tid: num(Int64(r.tid))
        case .pid: num(Int64(r.pid))
        case .ptid: num(Int64(p.ppid))
        case .cwd: s.append(bytes: p.cwd.buffer)
        case .comm: s.append(bytes: p.comm.buffer)
        case .cgroups: s.append(bytes: p.cgroup.buffer)
        case .tty: num(Int64(p.tty))
        case .loginuid: num(p.loginuid == UInt32.max ? -1 : Int64(p.loginuid))
        case .execFlags: if raw { s.append(.uint(UInt64(p.exeFlags))) } else { exeFlags.append(UInt64(p.exeFlags), to: s) }
        case .cloneFlags:
            let f = r.load(UInt32.self, at: Layout.Clone.flags)
            if raw { s.append(.uint(UInt64(f))) } else { s.append(bytes: (f & 1 != 0 ? ArgumentPlan.cloneThread : ArgumentPlan.zero).buffer) }
        case .capPermitted: if raw { s.append(.uint(p.capPermitted)) } else { caps.append(p.capPermitted, to: s) }
        case .capEffective: if raw { s.append(.uint(p.capEffective)) } else { caps.append(p.capEffective, to: s) }
        case .uid: num(Int64(p.uid))
        case .gid: num(Int64(p.gid))
        case .pgid: num(Int64(p.pgid))
        case .trustedExepath: s.append(bytes: p.exePath.buffer)
        case .exitStatus: num(r.load(Int64.self, at: Layout.Exit.status))
        case .exitRet: num((r.load(Int64.self, at: Layout.Exit.status) >> 8) & 0xff)
        case .table: if let spec = specs[Int(r.type.rawValue)] { tableArgument(spec, c, s, raw: raw) }
        }
    }

    func tableArgument(_ spec: ArgSpec, _ c: EventContext, _ s: EvalScratch, raw: Bool) {
        let r = c.record
        let f = spec.field
        switch spec.rendering {
        case .tuple: c.socketName(s, local: false); return
        case .localAddress: c.socketName(s, local: true); return
        case .text:
            // evt.rawarg of a resolved path is the path as the process passed it.
            s.append(bytes: r.variable(raw ? (spec.rawField ?? f).position : f.position))
            return
        default: break
        }
        let signed: Int64
        switch f.type {
        case .u8: signed = Int64(r.load(UInt8.self, at: f.position))
        case .u16: signed = Int64(r.load(UInt16.self, at: f.position))
        case .u32: signed = Int64(r.load(UInt32.self, at: f.position))
        case .u64: signed = Int64(bitPattern: r.load(UInt64.self, at: f.position))
        case .i32: signed = Int64(r.load(Int32.self, at: f.position))
        case .i64: signed = r.load(Int64.self, at: f.position)
        case .bytes16, .str, .strlist: return
        }
        let unsigned = UInt64(bitPattern: signed)
        if raw {
            if f.type == .i32 || f.type == .i64 { s.append(.int(signed)) } else { s.append(.uint(unsigned)) }
            return
        }
        switch spec.rendering {
        case .result:
            if signed >= 0 { s.appendDecimal(signed) } else { s.appendCopy(Render.resultArgument(signed).utf8) }
        case .number:
            if f.type == .u64 { s.appendCopy(String(unsigned).utf8) } else { s.appendDecimal(signed) }
        case .hex: s.appendCopy(("0x" + String(unsigned, radix: 16)).utf8)
        case .dirfd:
            if signed == -100 { s.append(bytes: ArgumentPlan.atFdcwd.buffer) } else { s.appendDecimal(signed) }
        case .octal: s.appendCopy(("0" + String(unsigned, radix: 8)).utf8)
        case .user:
            if let u = c.host.user(UInt32(truncatingIfNeeded: unsigned)) { s.append(bytes: u.name.buffer) } else { s.appendDecimal(signed) }
        case .group:
            if let g = c.host.groups[UInt32(truncatingIfNeeded: unsigned)] { s.append(bytes: g.buffer) } else { s.appendDecimal(signed) }
        case .mode, .flags, .enumeration, .capabilities, .signal:
            tableCaches[Int(r.type.rawValue)]?.append(unsigned, to: s)
        case .tuple, .localAddress, .text: break
        }
    }

    static let atFdcwd = ByteString("-100(AT_FDCWD)")
    static let cloneThread = ByteString("CLONE_THREAD")
    static let zero = ByteString("0")
}

extension EvalScratch {
    /// A decimal number rendered into the arena (no String).
    func appendDecimal(_ n: Int64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var v = n.magnitude
        var len = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[19 - len] = UInt8(48 + v % 10)
                v /= 10
                len += 1
            } while v > 0
            if n < 0 { d[19 - len] = 0x2d; len += 1 }
            let p = arena.allocate(len)
            p.baseAddress!.copyMemory(from: d.baseAddress! + (20 - len), byteCount: len)
            append(bytes: UnsafeRawBufferPointer(p))
        }
    }
}
