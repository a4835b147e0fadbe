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
        let names = argumentNames(c.record.type)
        let name: String
        if let i = Int(key) {
            guard i >= 0, i < names.count else { return }
            name = names[i]
        } else {
            guard names.contains(key) else { return }
            name = key
        }
        let r = c.record
        let p = c.process
        func text(_ str: String) { s.appendCopy(str.utf8) }
        func num(_ n: Int64) { if raw { s.append(.int(n)) } else { text(String(n)) } }
        switch (r.type, name) {
        case (.open, _), (.openat, _), (.openat2, _), (.creat, _):
            switch name {
            case "fd":
                let res = r.load(Int64.self, at: Layout.Open.res)
                if raw { s.append(.int(res)) } else { text(res >= 0 ? String(res) : "\(res)(\(Render.result(res)))") }
            case "dirfd":
                let d = Int64(r.load(Int32.self, at: Layout.Open.dirfd))
                if raw { s.append(.int(d)) } else { text(d == -100 ? "-100(AT_FDCWD)" : String(d)) }
            case "name": s.append(bytes: r.variable(Layout.Open.nameraw))
            case "flags":
                let f = r.load(UInt32.self, at: Layout.Open.flags)
                if raw { s.append(.uint(UInt64(f))) } else { text(Render.openFlags(f)) }
            case "mode":
                let m = r.load(UInt32.self, at: Layout.Open.mode)
                if raw { s.append(.uint(UInt64(m))) } else { text("0" + String(m, radix: 8)) }
            case "dev": num(Int64(r.load(UInt32.self, at: Layout.Open.dev)))
            case "ino": num(Int64(bitPattern: r.load(UInt64.self, at: Layout.Open.ino)))
            default: break
            }
        case (.connect, _):
            switch name {
            case "res":
                let res = r.load(Int64.self, at: Layout.Connect.res)
                if raw { s.append(.int(res)) } else { text(res == 0 ? "0" : "\(res)(\(Render.result(res)))") }
            case "fd": num(Int64(r.load(Int32.self, at: Layout.Connect.fd)))
            case "tuple": c.fdName(s)
            default: break
            }
        case (.execve, _), (.execveat, _), (.clone, _), (.clone3, _), (.fork, _), (.vfork, _):
            switch name {
            case "res": num(c.res)
            case "exe": s.append(bytes: p.argv0.buffer)
            case "args": s.append(bytes: p.argsJoined.buffer)
            case "tid": num(Int64(r.tid))
            case "pid": num(Int64(r.pid))
            case "ptid": num(Int64(p.ppid))
            case "cwd": s.append(bytes: p.cwd.buffer)
            case "comm": s.append(bytes: p.comm.buffer)
            case "cgroups": s.append(bytes: p.cgroup.buffer)
            case "tty": num(Int64(p.tty))
            case "loginuid": num(p.loginuid == UInt32.max ? -1 : Int64(p.loginuid))
            case "flags":
                if r.type == .execve || r.type == .execveat {
                    if raw { s.append(.uint(UInt64(p.exeFlags))) } else { text(Render.exeFlags(p.exeFlags)) }
                } else {
                    let f = r.load(UInt32.self, at: Layout.Clone.flags)
                    if raw { s.append(.uint(UInt64(f))) } else { text(f & 1 != 0 ? "CLONE_THREAD" : "0") }
                }
            case "cap_permitted": if raw { s.append(.uint(p.capPermitted)) } else { text(Render.capabilities(p.capPermitted)) }
            case "cap_effective": if raw { s.append(.uint(p.capEffective)) } else { text(Render.capabilities(p.capEffective)) }
            case "uid": num(Int64(p.uid))
            case "gid": num(Int64(p.gid))
            case "pgid": num(Int64(p.pgid))
            case "trusted_exepath": s.append(bytes: p.exePath.buffer)
            default: break
            }
        case (.procexit, _):
            let status = r.load(Int64.self, at: Layout.Exit.status)
            switch name {
            case "status": num(status)
            case "ret": num((status >> 8) & 0xff)
            default: break
            }
        default:
            break
        }
    }

    /// evt.args: every argument as `name=value`, space-separated.
    static func allArguments(_ c: EventContext, _ s: EvalScratch) {
        var out = ""
        let tmp = EvalScratch()
        for name in argumentNames(c.record.type) {
            tmp.beginEvent()
            argument(name, c, tmp, raw: false)
            guard let first = tmp.extractedValues.first, case .bytes(let b) = first else { continue }
            if !out.isEmpty { out += " " }
            out += name + "=" + String(decoding: b, as: UTF8.self)
        }
        s.appendCopy(out.utf8)
    }
}
