import LannerRules
import LannerWire

/// One open file descriptor as the collector knows it: what it is and its name as Falco renders fd.name.
/// Immutable; a process's table maps fd numbers to these (copied on fork at no cost: Swift's copy-on-write).
/// An open whose path as passed differs from its canonical name makes a `RawNamedFDEntry`, which keeps that path too;
/// every other entry is this class alone (the stored properties are `final`: read directly, as in a final class).
class FDEntry {
    final let kind: FDKind
    /// Path, `cip:cport->sip:sport`, `ip:port` (bound), unix path, `pipe:[ino]`, `memfd:name`, …
    final let name: ByteString
    final let family: UInt16
    final let socktype: UInt16
    // Two bytes in the padding before `local` (no extra memory: a plain entry is 100 bytes, as before them).
    /// An IP socket's layer-4 protocol (fd.l4proto).
    final let l4: L4Proto
    /// What fd.nameraw is on events that use the fd.
    final let raw: RawName
    final let local: IPAddress?, lport: UInt16
    final let remote: IPAddress?, rport: UInt16
    /// Accepted or listening (Falco's fd.is_server).
    final let isServer: Bool
    /// Open flags (O_CLOEXEC decides what survives an exec).
    final let flags: UInt32

    /// fd.nameraw of an entry, as Falco keeps the path an open was passed (m_name_raw).
    enum RawName: UInt8 {
        /// Not made by an open: fd.name.
        case name
        /// An open passed its canonical name: fd.name.
        case same
        /// An open's sensor left the path as passed out (no rule read it then): no value, as on the open itself.
        case omitted
        /// An open passed another path (relative, `..`, a symlink): `RawNamedFDEntry.keptRawName`.
        case kept
    }

    init(kind: FDKind, name: ByteString, family: UInt16 = 0, socktype: UInt16 = 0, l4: L4Proto? = nil, raw: RawName = .name,
         local: IPAddress? = nil, lport: UInt16 = 0, remote: IPAddress? = nil, rport: UInt16 = 0, isServer: Bool = false, flags: UInt32 = 0) {
        self.kind = kind
        self.name = name
        self.family = family
        self.socktype = socktype
        self.l4 = l4 ?? L4Proto(socktype: socktype)
        self.raw = raw
        self.local = local
        self.lport = lport
        self.remote = remote
        self.rport = rport
        self.isServer = isServer
        self.flags = flags
    }

    var isInet: Bool { family == 2 || family == 10 }

    /// The entry an open that succeeded makes: its canonical `name` and the path it was passed (`nameraw`, empty when
    /// the sensor left it out). Only a path that differs from the name is kept (a `RawNamedFDEntry`).
    static func opened(kind: FDKind, name: UnsafeRawBufferPointer, nameraw: UnsafeRawBufferPointer, flags: UInt32) -> FDEntry {
        if nameraw.isEmpty { return FDEntry(kind: kind, name: ByteString(name), raw: .omitted, flags: flags) }
        if nameraw.count == name.count && memcmp(nameraw.baseAddress!, name.baseAddress!, name.count) == 0 {
            return FDEntry(kind: kind, name: ByteString(name), raw: .same, flags: flags)
        }
        return RawNamedFDEntry(kind: kind, name: ByteString(name), rawName: ByteString(nameraw), flags: flags)
    }

    /// The same socket, listening or accepted (sockets have no path as passed).
    func with(server: Bool) -> FDEntry {
        FDEntry(kind: kind, name: name, family: family, socktype: socktype, l4: l4, local: local, lport: lport, remote: remote,
                rport: rport, isServer: server, flags: flags)
    }

    /// What an fd path from the kernel (`/proc/PID/fd` style) says the fd is, for fds the table never saw open.
    static func classify(path p: UnsafeRawBufferPointer) -> FDKind {
        func starts(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard p.count >= n else { return false }
            return memcmp(p.baseAddress!, s.utf8Start, n) == 0
        }
        if starts("/memfd:") { return .memfd }
        if starts("/") { return .file }
        if starts("pipe:") { return .pipe }
        if starts("socket:") { return .socket }
        if starts("anon_inode:[eventpoll]") { return .eventpoll }
        if starts("anon_inode:[eventfd]") { return .event }
        if starts("anon_inode:[signalfd]") { return .signalfd }
        if starts("anon_inode:[timerfd]") { return .timerfd }
        if starts("anon_inode:inotify") { return .inotify }
        if starts("anon_inode:bpf") { return .bpf }
        if starts("anon_inode:[userfaultfd]") { return .userfaultfd }
        if starts("anon_inode:[io_uring]") { return .iouring }
        return .unknown
    }
}

/// An fd opened with a path other than its canonical name (`open("f1")` in /tmp is /tmp/f1): the path as passed is
/// fd.nameraw on every later event on the fd, as Falco keeps it.
final class RawNamedFDEntry: FDEntry {
    let keptRawName: ByteString

    init(kind: FDKind, name: ByteString, rawName: ByteString, flags: UInt32) {
        keptRawName = rawName
        super.init(kind: kind, name: name, raw: .kept, flags: flags)
    }
}

/// An IP socket's layer-4 protocol, as Falco's fd.l4proto names it.
enum L4Proto: UInt8 {
    case unknown, tcp, udp, icmp, raw

    /// From socket(2)'s type and protocol, as libsinsp derives it when it sees the socket made (parse_socket_exit):
    /// TCP and UDP by protocol, or by type for protocol 0; ICMP is `icmp` (a ping socket), except on a raw socket; a
    /// raw socket of ICMP, TCP, UDP or IPPROTO_RAW is `raw`; anything else is unknown (ICMPv6, SCTP, a raw socket of
    /// protocol 0). Unlike libsinsp, the type's SOCK_NONBLOCK / SOCK_CLOEXEC bits are masked off before it is compared
    /// with SOCK_RAW (libsinsp calls a `SOCK_RAW | SOCK_CLOEXEC` ICMP socket icmp).
    init(type: UInt32, protocol proto: UInt32) {
        let raw = type & 0xf == 3   // SOCK_RAW
        switch proto {
        case 6: self = raw ? .raw : .tcp      // IPPROTO_TCP
        case 17: self = raw ? .raw : .udp     // IPPROTO_UDP
        case 1: self = raw ? .raw : .icmp     // IPPROTO_ICMP
        case 255: self = .raw                 // IPPROTO_RAW
        case 0: self = type & 0xf == 1 ? .tcp : (type & 0xf == 2 ? .udp : .unknown)
        default: self = .unknown
        }
    }

    /// From a socket type alone (an event's socktype, when the socket was made before the collector saw it, or by an
    /// event the sensor was not asked for): stream is tcp, datagram udp (an ICMP ping socket cannot be told apart),
    /// raw is raw.
    init(socktype: UInt16) {
        switch socktype {
        case 1: self = .tcp
        case 2: self = .udp
        case 3: self = .raw
        default: self = .unknown
        }
    }

    static let names = [ByteString("unknown"), ByteString("tcp"), ByteString("udp"), ByteString("icmp"), ByteString("raw")]
    var name: ByteString { L4Proto.names[Int(rawValue)] }
}

import Glibc

/// Where each event's fd-related fields are in its record, found once from the schema.
struct FDLayout {
    /// The fd the event is about: its result for fd-creating events, else its fd argument; -1 when none.
    enum Source { case none, result, field(Int) }

    let source: Source
    let fdpath: Int      // variable index, -1
    let socket: SocketLayout?

    static let fdCreating: Set<EventType> = [
        .open, .openat, .openat2, .creat, .socket, .accept, .accept4, .dup, .dup2, .dup3, .memfdCreate, .userfaultfd,
    ]

    init(_ t: EventType) {
        var pos: [String: (Int, Bool)] = [:]
        for f in t.fields { pos[f.name] = (f.position, f.isVariable) }
        if FDLayout.fdCreating.contains(t) {
            source = .result
        } else if let p = pos["fd"] ?? pos["fd_in"], !p.1 {
            source = .field(p.0)
        } else {
            source = .none
        }
        fdpath = pos["fdpath"].map { $0.1 ? $0.0 : -1 } ?? -1
        socket = SocketLayout(t)
    }

    static let byType: [FDLayout?] = {
        var out = [FDLayout?](repeating: nil, count: Int(EventType.allCases.map(\.rawValue).max()!) + 1)
        for t in EventType.allCases where t.fromKernel { out[Int(t.rawValue)] = FDLayout(t) }
        return out
    }()
}

extension HostState {
    /// Most fds one process keeps in the table; more are not tracked (counted in `untrackedFDs`).
    static let maxFDsPerProcess = 4096

    /// Offset of a named fixed field of `t` (callers pass names the schema has for `t`).
    static func offset(_ t: EventType, _ name: String) -> Int {
        t.fields.first { $0.name == name && !$0.isVariable }!.position
    }

    func setFD(_ p: ProcessEntry, _ fd: Int64, _ e: FDEntry) {
        guard fd >= 0, fd <= Int64(Int32.max) else { return }
        let key = Int32(fd)
        if p.fds[key] == nil && p.fds.count >= HostState.maxFDsPerProcess {
            untrackedFDs += 1
            return
        }
        p.fds[key] = e
    }

    /// fd-table changes an event makes before rules see it (the new fd of an open, socket, accept, dup, …).
    func applyFDs(_ r: RecordView, _ p: ProcessEntry) {
        let res = r.load(Int64.self, at: 20)
        switch r.type {
        case .open, .openat, .openat2, .creat:
            guard res >= 0 else { return }
            let flags = r.load(UInt32.self, at: Layout.Open.flags)
            let kind: FDKind = flags & 0o200000 != 0 ? .directory : .file
            setFD(p, res, FDEntry.opened(kind: kind, name: r.variable(Layout.Open.name), nameraw: r.variable(Layout.Open.nameraw),
                                         flags: r.type == .creat ? 0o1101 : flags))
        case .socket:
            guard res >= 0 else { return }
            let domain = UInt16(truncatingIfNeeded: r.load(UInt32.self, at: HostState.offset(.socket, "domain")))
            let typeArg = r.load(UInt32.self, at: HostState.offset(.socket, "type"))
            let l4 = L4Proto(type: typeArg, protocol: r.load(UInt32.self, at: HostState.offset(.socket, "proto")))
            setFD(p, res, FDEntry(kind: FDKind.socketKind(domain), name: .empty, family: domain, socktype: UInt16(typeArg & 0xf), l4: l4))
        case .socketpair:
            guard res == 0 else { return }
            let domain = UInt16(truncatingIfNeeded: r.load(UInt32.self, at: HostState.offset(.socketpair, "domain")))
            for f in ["fd1", "fd2"] {
                setFD(p, Int64(r.load(Int32.self, at: HostState.offset(.socketpair, f))),
                      FDEntry(kind: FDKind.socketKind(domain), name: .empty, family: domain))
            }
        case .connect, .bind:
            guard res == 0 || (r.type == .connect && res == -115) else { return }   // EINPROGRESS: a non-blocking connect
            let fd = r.load(Int32.self, at: Layout.Connect.fd)
            guard let e = socketEntry(r, server: false, same: p.fds[fd]) else { return }
            setFD(p, Int64(fd), e)
        case .listen:
            guard res == 0 else { return }
            let fd = r.load(Int32.self, at: HostState.offset(.listen, "fd"))
            if let e = p.fds[fd] { p.fds[fd] = e.with(server: true) } else if let e = socketEntry(r, server: true) { setFD(p, Int64(fd), e) }
        case .accept, .accept4:
            // The connection has the listening socket's protocol.
            guard res >= 0, let e = socketEntry(r, server: true, same: p.fds[r.load(Int32.self, at: HostState.offset(r.type, "fd"))]) else { return }
            setFD(p, res, e)
        case .dup, .dup2, .dup3:
            guard res >= 0 else { return }
            let old = r.load(Int32.self, at: HostState.offset(r.type, "oldfd"))
            if let e = p.fds[old] {
                setFD(p, res, e)
            } else if let path = FDLayout.byType[Int(r.type.rawValue)].map({ r.variable($0.fdpath) }), !path.isEmpty {
                setFD(p, res, FDEntry(kind: FDEntry.classify(path: path), name: ByteString(path)))
            }
        case .pipe, .pipe2:
            guard res == 0 else { return }
            let ino = r.load(UInt64.self, at: HostState.offset(r.type, "ino"))
            let e = FDEntry(kind: .pipe, name: ByteString("pipe:[\(ino)]"))
            setFD(p, Int64(r.load(Int32.self, at: HostState.offset(r.type, "fd1"))), e)
            setFD(p, Int64(r.load(Int32.self, at: HostState.offset(r.type, "fd2"))), e)
        case .memfdCreate:
            guard res >= 0 else { return }
            var name = Array("memfd:".utf8)
            name += r.variable(r.type.fields.first { $0.name == "name" }!.position)
            setFD(p, res, FDEntry(kind: .memfd, name: ByteString(name)))
        case .userfaultfd:
            guard res >= 0 else { return }
            setFD(p, res, FDEntry(kind: .userfaultfd, name: ByteString("anon_inode:[userfaultfd]")))
        default:
            break
        }
    }

    /// fd-table changes after rules saw the event (a closed fd is still known to rules on its close).
    func applyFDsAfter(_ r: RecordView, _ p: ProcessEntry) {
        if r.type == .close, r.load(Int64.self, at: 20) == 0 {
            p.fds[r.load(Int32.self, at: HostState.offset(.close, "fd"))] = nil
        }
    }

    /// A socket table entry from an event's address fields (nil when the event has none or family 0). The protocol
    /// is `same`'s (the socket's entry so far, or an accepted connection's listener) when that is the same kind of
    /// socket, else what the event's socket type says.
    func socketEntry(_ r: RecordView, server: Bool, same: FDEntry? = nil) -> FDEntry? {
        guard let l = ArgumentTable.sockets[Int(r.type.rawValue)] else { return nil }
        let family = r.load(UInt16.self, at: l.family)
        guard family != 0 else { return nil }
        let socktype = l.socktype >= 0 ? r.load(UInt16.self, at: l.socktype) : 0
        if family == 1 {
            let path = l.path >= 0 ? r.variable(l.path) : UnsafeRawBufferPointer(start: nil, count: 0)
            return FDEntry(kind: .unix, name: ByteString(path), family: family, socktype: socktype, isServer: server)
        }
        guard family == 2 || family == 10 else { return FDEntry(kind: .unknown, name: .empty, family: family, isServer: server) }
        func addr(_ off: Int) -> IPAddress? {
            guard off >= 0 else { return nil }
            let b = r.bytes16(at: off)
            return family == 2 ? IPAddress(bytes: b[0..<4]) : IPAddress(bytes: b)
        }
        let local = addr(l.saddr), remote = addr(l.daddr)
        let lport = l.sport >= 0 ? r.load(UInt16.self, at: l.sport) : 0
        let rport = l.dport >= 0 ? r.load(UInt16.self, at: l.dport) : 0
        let name: String
        if r.type == .bind || r.type == .listen || remote == nil {
            name = local.map { "\($0):\(lport)" } ?? ""
        } else if server {
            // An accepted connection: the client is the remote end.
            name = "\(remote.map { "\($0)" } ?? ""):\(rport)->\(local.map { "\($0)" } ?? ""):\(lport)"
        } else {
            name = "\(local.map { "\($0)" } ?? ""):\(lport)->\(remote.map { "\($0)" } ?? ""):\(rport)"
        }
        let l4 = same.flatMap { $0.family == family && $0.socktype == socktype ? $0.l4 : nil }
        return FDEntry(kind: family == 2 ? .ipv4 : .ipv6, name: ByteString(name), family: family, socktype: socktype, l4: l4,
                       local: local, lport: lport, remote: remote, rport: rport, isServer: server)
    }

    /// On a successful exec the kernel closes O_CLOEXEC fds.
    func closeOnExec(_ p: ProcessEntry) {
        guard !p.fds.isEmpty else { return }
        for (fd, e) in p.fds where e.flags & 0o2000000 != 0 { p.fds[fd] = nil }
    }
}
