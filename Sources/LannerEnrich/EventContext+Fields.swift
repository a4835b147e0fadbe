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
    static let tcp = ByteString("tcp")
    static let udp = ByteString("udp")
    static let unknownProto = ByteString("unknown")
    static let familyIP = ByteString("ip")
    static let familyUnix = ByteString("unix")
}

extension EventContext {
    /// Whether the event type has a result (evt.res): syscalls, not process exits.
    var hasResult: Bool { record.type != .procexit }

    var family: UInt16 { record.load(UInt16.self, at: Layout.Connect.family) }
    var isSocket: Bool { record.type == .connect }
    var isInet: Bool { isSocket && (family == 2 || family == 10) }

    /// fd.num: the new fd of an open (-1 when it failed), the socket of a connect.
    var fdNum: Int64? {
        if isOpen { return max(res, -1) }
        if isSocket { return Int64(record.load(Int32.self, at: Layout.Connect.fd)) }
        return nil
    }

    var fdKind: FDKind? {
        if isOpen { return openFlags & 0o200000 != 0 ? .directory : .file }
        if isSocket {
            switch family {
            case 2: return .ipv4
            case 10: return .ipv6
            case 1: return .unix
            default: return nil
            }
        }
        return nil
    }

    var l4proto: ByteString? {
        guard isInet else { return nil }
        switch record.load(UInt16.self, at: Layout.Connect.socktype) {
        case 1: return FDKind.tcp
        case 2: return FDKind.udp
        default: return FDKind.unknownProto
        }
    }

    var sockFamily: ByteString? {
        guard isSocket else { return nil }
        return family == 1 ? FDKind.familyUnix : FDKind.familyIP
    }

    func address(at offset: Int) -> IPAddress? {
        guard isInet else { return nil }
        let b = record.bytes16(at: offset)
        return family == 2 ? IPAddress(bytes: b[0..<4]) : IPAddress(bytes: b)
    }

    /// The client (local) side of an outbound connection.
    var localAddress: IPAddress? { address(at: Layout.Connect.saddr) }
    /// The server (remote) side.
    var remoteAddress: IPAddress? { address(at: Layout.Connect.daddr) }

    /// fd.name: the path of an open, `cip:cport->sip:sport` of an IP socket, the path of a unix socket.
    func fdName(_ s: EvalScratch) {
        if isOpen {
            s.append(bytes: record.variable(Layout.Open.name))
            return
        }
        guard isSocket else { return }
        if family == 1 {
            s.append(bytes: record.variable(Layout.Connect.path))
            return
        }
        guard let l = localAddress, let r = remoteAddress else { return }
        let text = "\(l):\(record.load(UInt16.self, at: Layout.Connect.sport))->\(r):\(record.load(UInt16.self, at: Layout.Connect.dport))"
        s.appendCopy(text.utf8)
    }
}

extension SyscallFields {
    /// Falco's argument names per event, in parameter order (evt.arg[N] is the N-th).
    static func argumentNames(_ t: EventType) -> [String] {
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
            ArgumentPlan(name).extract(c, tmp, raw: false)
            guard let first = tmp.extractedValues.first, case .bytes(let b) = first else { continue }
            if !out.isEmpty { out += " " }
            out += name + "=" + String(decoding: b, as: UTF8.self)
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
    }

    let kinds: [Kind]
    let flags = RenderCache { Render.openFlags(UInt32(truncatingIfNeeded: $0)) }
    let exeFlags = RenderCache { Render.exeFlags(UInt32(truncatingIfNeeded: $0)) }
    let caps = RenderCache { Render.capabilities($0) }

    init(_ key: String) {
        var out = [Kind](repeating: .none, count: Int(EventType.allCases.map(\.rawValue).max()!) + 1)
        for t in EventType.allCases {
            let names = SyscallFields.argumentNames(t)
            let name: String?
            if let i = Int(key) { name = i >= 0 && i < names.count ? names[i] : nil } else { name = names.contains(key) ? key : nil }
            guard let name else { continue }
            out[Int(t.rawValue)] = ArgumentPlan.kind(t, name)
        }
        kinds = out
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
            if raw || res >= 0 { num(res) } else { s.appendCopy("\(res)(\(Render.result(res)))".utf8) }
        case .openDirfd:
            let d = Int64(r.load(Int32.self, at: Layout.Open.dirfd))
            if raw { s.append(.int(d)) } else if d == -100 { s.append(bytes: ArgumentPlan.atFdcwd.buffer) } else { s.appendDecimal(d) }
        case .openName: s.append(bytes: r.variable(Layout.Open.nameraw))
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
            if raw || res == 0 { num(res) } else { s.appendCopy("\(res)(\(Render.result(res)))".utf8) }
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
