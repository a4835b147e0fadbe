import Glibc
import Testing
import LannerRules
import LannerWire
import LannerTestSupport
@testable import LannerEnrich

/// The per-process fd table rebuilt from fd-creating events, and fd.* / evt.arg.* on the events that use an
/// fd or that Lanner describes by table.
@Suite struct FDTableTests {
    static func rec(_ e: some WireEncodable) -> [UInt8] {
        var w = ByteWriter()
        try! e.encode(into: &w)
        return w.bytes
    }
    static func b(_ s: String) -> ArraySlice<UInt8> { ArraySlice(s.utf8) }
    static func ip4(_ a: [UInt8]) -> ArraySlice<UInt8> { ArraySlice(a + [UInt8](repeating: 0, count: 12)) }
    static func f(_ name: String, _ r: [UInt8], _ h: HostState, arg: String? = nil) -> [String] { HostStateTests.field(name, r, h, arg: arg) }

    /// An event as the collector handles it: state first, then fields, then after-evaluation changes.
    static func fields(_ names: [String], _ r: [UInt8], _ h: HostState) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for n in names {
            let (name, arg): (String, String?) = {
                if let open = n.firstIndex(of: "["), n.hasSuffix("]") {
                    return (String(n[..<open]), String(n[n.index(after: open)..<n.index(before: n.endIndex)]))
                }
                if n.hasPrefix("evt.arg.") { return ("evt.arg", String(n.dropFirst(8))) }
                if n.hasPrefix("evt.rawarg.") { return ("evt.rawarg", String(n.dropFirst(11))) }
                return (n, nil)
            }()
            out[n] = f(name, r, h, arg: arg)
        }
        HostStateTests.apply(h, [])
        r.withUnsafeBytes { raw in h.applyExit(RecordView(base: raw.baseAddress!, length: raw.count)!) }
        return out
    }

    @Test func openedFileIsKnownToLaterEventsOnItsFd() {
        let h = HostStateTests.family()
        HostStateTests.apply(h, [Rec.open(pid: 200, name: "/etc/shadow", flags: 0o2000000, res: 7)])
        let read = Self.rec(ReadEvent(pid: 200, tid: 200, ts: 1600, res: 64, fd: 7, size: 4096))
        let v = Self.fields(["fd.num", "fd.name", "fd.type", "fd.typechar", "fd.directory", "fd.filename", "evt.arg.fd", "evt.arg.size", "evt.arg.res"], read, h)
        #expect(v["fd.num"] == ["7"])
        #expect(v["fd.name"] == ["/etc/shadow"])
        #expect(v["fd.type"] == ["file"] && v["fd.typechar"] == ["f"])
        #expect(v["fd.directory"] == ["/etc"] && v["fd.filename"] == ["shadow"])
        #expect(v["evt.arg.fd"] == ["7"] && v["evt.arg.size"] == ["4096"] && v["evt.arg.res"] == ["64"])

        // dup copies the entry; close sees the file and then forgets it.
        let dup = Self.rec(DupEvent(type: .dup2, pid: 200, tid: 200, ts: 1700, res: 9, oldfd: 7, newfd: 9))
        #expect(Self.fields(["fd.num", "fd.name"], dup, h) == ["fd.num": ["9"], "fd.name": ["/etc/shadow"]])
        let close = Self.rec(CloseEvent(pid: 200, tid: 200, ts: 1800, res: 0, fd: 7, fdpath: Self.b("/etc/shadow")))
        #expect(Self.fields(["fd.name", "evt.arg.fd"], close, h) == ["fd.name": ["/etc/shadow"], "evt.arg.fd": ["7"]])
        let after = Self.rec(ReadEvent(pid: 200, tid: 200, ts: 1900, res: 0, fd: 7, size: 1))
        #expect(Self.fields(["fd.name", "fd.type"], after, h) == ["fd.name": [], "fd.type": []])
        #expect(Self.fields(["fd.name"], Self.rec(ReadEvent(pid: 200, tid: 200, ts: 1900, res: 0, fd: 9, size: 1)), h) == ["fd.name": ["/etc/shadow"]])
    }

    /// fd.nameraw on the events after an open (Falco keeps the path as passed with the fd): the open's raw path when
    /// it differs from the canonical one; the name when they are the same; no value when the open's sensor left the
    /// path out (no rule read it then: as fd.nameraw on such an open). fd.name is the canonical path throughout.
    /// Rows: the path the open was passed, fd.nameraw on each later event.
    @Test(arguments: [
        ("f1", ["f1"]),
        ("../lanner/./f1", ["../lanner/./f1"]),
        ("/tmp/lanner/f1", ["/tmp/lanner/f1"]),
        ("", []),
    ] as [(String, [String])])
    func laterEventsKeepThePathTheOpenWasPassed(_ raw: String, _ expected: [String]) {
        let h = HostStateTests.family()
        let open = Rec.open(pid: 200, name: "/tmp/lanner/f1", raw: raw, res: 7)
        #expect(Self.fields(["fd.nameraw"], open, h) == ["fd.nameraw": expected], "the open itself")
        let later: [(String, [UInt8])] = [
            ("read", Self.rec(ReadEvent(pid: 200, tid: 200, ts: 2, res: 1, fd: 7, size: 1))),
            ("fchmod", Self.rec(FchmodEvent(pid: 200, tid: 200, ts: 3, res: 0, fd: 7, mode: 0o600, fdpath: Self.b("/tmp/lanner/f1")))),
            ("ioctl", Self.rec(IoctlEvent(pid: 200, tid: 200, ts: 4, res: 0, fd: 7, request: 0x5401, fdpath: Self.b("/tmp/lanner/f1")))),
            ("dup", Self.rec(DupEvent(pid: 200, tid: 200, ts: 5, res: 9, oldfd: 7, newfd: -1, fdpath: Self.b("/tmp/lanner/f1")))),
            ("read of the dup", Self.rec(ReadEvent(pid: 200, tid: 200, ts: 6, res: 1, fd: 9, size: 1))),
            ("close", Self.rec(CloseEvent(pid: 200, tid: 200, ts: 7, res: 0, fd: 7, fdpath: Self.b("/tmp/lanner/f1")))),
        ]
        for (what, r) in later {
            #expect(Self.fields(["fd.nameraw", "fd.name"], r, h) == ["fd.nameraw": expected, "fd.name": ["/tmp/lanner/f1"]], "\(what)")
        }
        #expect(Self.fields(["fd.nameraw"], Self.rec(ReadEvent(pid: 200, tid: 200, ts: 8, res: 1, fd: 7, size: 1)), h)
                == ["fd.nameraw": []], "closed")
        // A child inherits the fd with its path as passed.
        HostStateTests.apply(h, [Rec.clone(parent: 200, child: 300)])
        #expect(Self.f("fd.nameraw", Self.rec(ReadEvent(pid: 300, tid: 300, ts: 9, res: 1, fd: 9, size: 1)), h) == expected)
    }

    /// fds the table did not see opened keep fd.name as fd.nameraw (sockets, pipes, a kernel-resolved fd path).
    @Test func fdsNotOpenedByPathGiveTheirName() {
        let h = HostStateTests.family()
        HostStateTests.apply(h, [Self.rec(PipeEvent(type: .pipe2, pid: 200, tid: 200, ts: 1, res: 0, fd1: 3, fd2: 4, ino: 77, flags: 0))])
        #expect(Self.f("fd.nameraw", Self.rec(ReadEvent(pid: 200, tid: 200, ts: 2, res: 1, fd: 3, size: 1)), h) == ["pipe:[77]"])
        let mmap = Self.rec(MmapEvent(pid: 200, tid: 200, ts: 3, res: 0, length: 1, prot: 1, flags: 2, fd: 12, fdpath: Self.b("/usr/lib/libx.so")))
        #expect(Self.f("fd.nameraw", mmap, h) == ["/usr/lib/libx.so"])
        let conn = Rec.connect(pid: 200, sport: 40000, dport: 443, daddr: [93, 184, 216, 34])
        #expect(Self.f("fd.nameraw", conn, h) == ["127.0.0.1:40000->93.184.216.34:443"])
    }

    /// Only an open whose path as passed differs from its name pays for keeping it: the other entries are the size
    /// they were before fd.nameraw and fd.l4proto were kept (their two bytes sit in padding).
    @Test func keepingThePathAsPassedCostsNothingWhenItIsTheName() throws {
        typealias UsableSize = @convention(c) (UnsafeMutableRawPointer?) -> Int
        let usable = unsafeBitCast(try #require(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_usable_size")), to: UsableSize.self)
        func size(_ e: FDEntry) -> Int { usable(Unmanaged.passUnretained(e).toOpaque()) }
        func opened(_ raw: String) -> FDEntry {
            let name = Array("/tmp/lanner/f1".utf8), r = Array(raw.utf8)
            return name.withUnsafeBytes { n in r.withUnsafeBytes { FDEntry.opened(kind: .file, name: n, nameraw: $0, flags: 0) } }
        }
        let socket = FDEntry(kind: .ipv4, name: .empty, family: 2, socktype: 1)
        let same = opened("/tmp/lanner/f1"), omitted = opened(""), kept = opened("f1")
        #expect(same.raw == .same && omitted.raw == .omitted && kept.raw == .kept)
        #expect(!(same is RawNamedFDEntry) && !(omitted is RawNamedFDEntry) && kept is RawNamedFDEntry)
        #expect(size(same) == size(socket) && size(omitted) == size(socket))
        #expect(size(socket) == 104, "x86_64 glibc: a 100-byte object, as before the two fields")
        #expect(size(kept) > size(socket))
    }

    @Test func forkCopiesTheTableAndExecClosesCloexecFds() {
        let h = HostStateTests.family()
        HostStateTests.apply(h, [
            Rec.open(pid: 200, name: "/tmp/keep", flags: 0, res: 3),
            Rec.open(pid: 200, name: "/tmp/cloexec", flags: 0o2000000, res: 4),
            Rec.clone(parent: 200, child: 300),
        ])
        let r3 = Self.rec(ReadEvent(pid: 300, tid: 300, ts: 2000, res: 1, fd: 3, size: 1))
        let r4 = Self.rec(ReadEvent(pid: 300, tid: 300, ts: 2000, res: 1, fd: 4, size: 1))
        #expect(Self.f("fd.name", r3, h) == ["/tmp/keep"])
        #expect(Self.f("fd.name", r4, h) == ["/tmp/cloexec"])
        HostStateTests.apply(h, [Rec.exec(pid: 300, ppid: 200, comm: "cat", exe: "/usr/bin/cat", args: ["cat"])])
        #expect(Self.f("fd.name", r3, h) == ["/tmp/keep"])
        #expect(Self.f("fd.name", r4, h) == [])
        // The parent's table is its own.
        #expect(Self.f("fd.name", Self.rec(ReadEvent(pid: 200, tid: 200, ts: 2000, res: 1, fd: 4, size: 1)), h) == ["/tmp/cloexec"])
    }

    @Test func socketsNameBothEndsAsFalcoDoes() {
        let h = HostStateTests.family()
        // A server: socket, bind, listen, accept; then a recv on the accepted fd.
        HostStateTests.apply(h, [Self.rec(SocketEvent(pid: 200, tid: 200, ts: 1, res: 3, domain: 2, typeArg: 1, proto: 0))])
        let listen = Self.rec(ListenEvent(pid: 200, tid: 200, ts: 2, res: 0, fd: 3, backlog: 128, family: 2, socktype: 1, sport: 8080,
                                          saddr: Self.ip4([0, 0, 0, 0])))
        #expect(Self.fields(["fd.name", "fd.is_server", "fd.lport", "evt.arg.backlog"], listen, h)
                == ["fd.name": ["0.0.0.0:8080"], "fd.is_server": ["true"], "fd.lport": ["8080"], "evt.arg.backlog": ["128"]])
        let accept = Self.rec(AcceptEvent(pid: 200, tid: 200, ts: 3, res: 5, fd: 3, family: 2, socktype: 1, sport: 8080, dport: 51000,
                                          saddr: Self.ip4([10, 0, 0, 1]), daddr: Self.ip4([192, 168, 1, 9]), queuepct: 0, queuelen: 0, queuemax: 128))
        let a = Self.fields(["fd.num", "fd.name", "fd.cip", "fd.sip", "fd.cport", "fd.sport", "fd.is_server", "fd.l4proto", "fd.type", "evt.arg.fd", "evt.arg.tuple"], accept, h)
        #expect(a["fd.num"] == ["5"])
        #expect(a["fd.name"] == ["192.168.1.9:51000->10.0.0.1:8080"])
        #expect(a["fd.cip"] == ["192.168.1.9"] && a["fd.sip"] == ["10.0.0.1"])
        #expect(a["fd.cport"] == ["51000"] && a["fd.sport"] == ["8080"])
        #expect(a["fd.is_server"] == ["true"] && a["fd.l4proto"] == ["tcp"] && a["fd.type"] == ["ipv4"])
        #expect(a["evt.arg.fd"] == ["5"] && a["evt.arg.tuple"] == ["192.168.1.9:51000->10.0.0.1:8080"])
        // recvfrom without addresses in the record: everything from the table.
        let recv = Self.rec(SendtoEvent(type: .recvfrom, pid: 200, tid: 200, ts: 4, res: 10, fd: 5, size: 100))
        let r = Self.fields(["fd.name", "fd.cip", "fd.rport", "fd.is_server", "fd.connected"], recv, h)
        #expect(r["fd.name"] == ["192.168.1.9:51000->10.0.0.1:8080"])
        #expect(r["fd.cip"] == ["192.168.1.9"] && r["fd.rport"] == ["51000"] && r["fd.is_server"] == ["true"] && r["fd.connected"] == ["true"])
    }

    /// fd.l4proto as Falco derives it from socket(2)'s type and protocol (a raw ICMP socket was `unknown`): on the
    /// socket call, on the connect (whose record has the socket type, not the protocol) and on a later send without
    /// addresses. Rows: domain, type as passed, protocol (nil: socket() not seen), the connect's socktype, expected.
    @Test(arguments: [
        (2, 3, 1, 3, "raw"),                  // socket(AF_INET, SOCK_RAW, IPPROTO_ICMP): raw, as libsinsp says
        (2, 2, 1, 2, "icmp"),                 // a ping socket: SOCK_DGRAM, IPPROTO_ICMP
        (2, 0x80003, 1, 3, "raw"),            // SOCK_RAW | SOCK_CLOEXEC (libsinsp compares unmasked and says icmp)
        (2, 0x802, 1, 2, "icmp"),             // SOCK_DGRAM | SOCK_NONBLOCK
        (2, 1, 0, 1, "tcp"), (2, 2, 0, 2, "udp"), (2, 1, 6, 1, "tcp"), (2, 2, 17, 2, "udp"),
        (2, 3, 6, 3, "raw"), (2, 3, 17, 3, "raw"), (2, 3, 255, 3, "raw"),
        (10, 2, 58, 2, "unknown"),            // ICMPv6: libsinsp knows no protocol for it
        (10, 5, 132, 5, "unknown"),           // SCTP
        (2, 3, nil, 3, "raw"),                // socket() never seen: the socket type alone
        (2, 2, nil, 2, "udp"),
        (2, 2, 1, 1, "tcp"),                  // the table's entry is another socket (the connect says stream): the event wins
    ] as [(UInt16, UInt32, UInt32?, UInt16, String)])
    func layer4ProtocolAsFalcoDerivesIt(_ domain: UInt16, _ type: UInt32, _ proto: UInt32?, _ socktype: UInt16, _ expected: String) {
        let h = HostStateTests.family()
        let addr = domain == 2 ? Self.ip4([10, 0, 0, 9]) : ArraySlice([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [9])
        if let proto {
            let socket = Self.rec(SocketEvent(pid: 200, tid: 200, ts: 1, res: 5, domain: UInt32(domain), typeArg: type, proto: proto))
            #expect(Self.fields(["fd.l4proto"], socket, h)["fd.l4proto"] == [proto == 1 && socktype == 1 ? "icmp" : expected], "on socket()")
        }
        let connect = Self.rec(ConnectEvent(pid: 200, tid: 200, ts: 2, res: 0, fd: 5, family: domain, socktype: socktype, sport: 0,
                                            dport: 0, saddr: addr, daddr: addr))
        #expect(Self.fields(["fd.l4proto"], connect, h)["fd.l4proto"] == [expected], "on connect")
        let send = Self.rec(SendtoEvent(pid: 200, tid: 200, ts: 3, res: 8, fd: 5, size: 8))
        #expect(Self.fields(["fd.l4proto"], send, h)["fd.l4proto"] == [expected], "on a send without addresses")
    }

    /// An accepted connection has its listener's protocol; the new entry costs no more memory than before.
    @Test func acceptedConnectionsKeepTheListenersProtocol() {
        let h = HostStateTests.family()
        HostStateTests.apply(h, [Self.rec(SocketEvent(pid: 200, tid: 200, ts: 1, res: 3, domain: 2, typeArg: 2, proto: 1))])
        let accept = Self.rec(AcceptEvent(pid: 200, tid: 200, ts: 3, res: 6, fd: 3, family: 2, socktype: 2, sport: 1, dport: 2,
                                          saddr: Self.ip4([10, 0, 0, 1]), daddr: Self.ip4([10, 0, 0, 2]), queuepct: 0, queuelen: 0, queuemax: 1))
        #expect(Self.fields(["fd.l4proto"], accept, h) == ["fd.l4proto": ["icmp"]])
        #expect(Self.f("fd.l4proto", Self.rec(SendtoEvent(pid: 200, tid: 200, ts: 4, res: 1, fd: 6, size: 1)), h) == ["icmp"])
    }

    @Test func pipesMemfdsAndKernelPathsHaveTheirKinds() {
        let h = HostStateTests.family()
        HostStateTests.apply(h, [
            Self.rec(PipeEvent(type: .pipe2, pid: 200, tid: 200, ts: 1, res: 0, fd1: 3, fd2: 4, ino: 4242, flags: 0o2000000)),
            Self.rec(MemfdCreateEvent(pid: 200, tid: 200, ts: 2, res: 5, flags: 1, name: Self.b("payload"))),
        ])
        let w4 = Self.rec(ReadEvent(type: .write, pid: 200, tid: 200, ts: 3, res: 1, fd: 4, size: 1))
        #expect(Self.fields(["fd.name", "fd.type", "fd.typechar"], w4, h) == ["fd.name": ["pipe:[4242]"], "fd.type": ["pipe"], "fd.typechar": ["p"]])
        let w5 = Self.rec(ReadEvent(type: .write, pid: 200, tid: 200, ts: 3, res: 1, fd: 5, size: 1))
        #expect(Self.fields(["fd.name", "fd.type"], w5, h) == ["fd.name": ["memfd:payload"], "fd.type": ["memfd"]])
        // An fd the table never saw: the kernel's path says what it is.
        let mmap = Self.rec(MmapEvent(pid: 200, tid: 200, ts: 4, res: 0x7f00_0000_0000, addr: 0, length: 4096, prot: 5, flags: 2, fd: 9,
                                      offset: 0, fdpath: Self.b("/usr/lib/libx.so")))
        let m = Self.fields(["fd.name", "fd.type", "fd.directory", "evt.arg.prot", "evt.arg.flags", "evt.arg.res", "evt.rawarg.prot"], mmap, h)
        #expect(m["fd.name"] == ["/usr/lib/libx.so"] && m["fd.type"] == ["file"] && m["fd.directory"] == ["/usr/lib"])
        #expect(m["evt.arg.prot"] == ["PROT_READ|PROT_EXEC"] && m["evt.arg.flags"] == ["MAP_PRIVATE"])
        #expect(m["evt.arg.res"] == ["0x7f0000000000"] && m["evt.rawarg.prot"] == ["5"])
    }

    /// Table-driven: Falco's names and renderings of the parameters Falco's rules use most.
    @Test(arguments: [
        (rec(UnlinkatEvent(pid: 200, tid: 200, ts: 1, res: 0, dirfd: -100, flags: 0x200, name: b("/home/alice/.bash_history"), nameraw: b(".bash_history"))),
         ["evt.arg.name": ["/home/alice/.bash_history"], "evt.rawarg.name": [".bash_history"], "evt.arg.dirfd": ["-100(AT_FDCWD)"],
          "evt.arg.flags": ["AT_REMOVEDIR"], "evt.arg[2]": ["/home/alice/.bash_history"], "evt.type": ["unlinkat"], "evt.res": ["SUCCESS"]]),
        (rec(RenameEvent(type: .renameat2, pid: 200, tid: 200, ts: 1, res: -2, olddirfd: 3, newdirfd: -100, flags: 1, oldpath: b("/a/x"),
                         oldpathraw: b("x"), newpath: b("/b/y"), newpathraw: b("/b/y"))),
         ["evt.arg.oldpath": ["/a/x"], "evt.arg.newpath": ["/b/y"], "evt.arg.flags": ["RENAME_NOREPLACE"], "evt.arg.res": ["-2(ENOENT)"],
          "evt.arg.olddirfd": ["3"], "evt.res": ["ENOENT"], "evt.failed": ["true"]]),
        (rec(ChmodEvent(type: .fchmodat, pid: 200, tid: 200, ts: 1, res: 0, dirfd: -100, mode: 0o4755, filename: b("/tmp/x"), filenameraw: b("/tmp/x"))),
         ["evt.arg.mode": ["S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"], "evt.rawarg.mode": ["2541"], "evt.arg.filename": ["/tmp/x"]]),
        (rec(SetuidEvent(pid: 200, tid: 200, ts: 1, res: 0, uid: 1000)), ["evt.arg.uid": ["alice"], "evt.rawarg.uid": ["1000"]]),
        (rec(SetuidEvent(pid: 200, tid: 200, ts: 1, res: -1, uid: 4242)), ["evt.arg.uid": ["4242"], "evt.arg.res": ["-1(EPERM)"]]),
        (rec(PtraceEvent(pid: 200, tid: 200, ts: 1, res: 0, request: 16, pidArg: 77, addr: 0, data: 0)),
         ["evt.arg.request": ["PTRACE_ATTACH"], "evt.arg.pid": ["77"], "evt.rawarg.request": ["16"]]),
        (rec(KillEvent(pid: 200, tid: 200, ts: 1, res: 0, pidArg: 1, sig: 9)), ["evt.arg.sig": ["SIGKILL"], "evt.arg.pid": ["1"]]),
        (rec(SocketEvent(pid: 200, tid: 200, ts: 1, res: 4, domain: 17, typeArg: 3, proto: 768)),
         ["evt.arg.domain": ["AF_PACKET"], "evt.arg.res": ["4"], "fd.num": ["4"], "fd.type": ["socket"]]),
        (rec(MemfdCreateEvent(pid: 200, tid: 200, ts: 1, res: 6, flags: 3, name: b("x"))),
         ["evt.arg.fd": ["6"], "evt.arg.flags": ["MFD_CLOEXEC|MFD_ALLOW_SEALING"], "evt.arg.name": ["x"], "evt.args": ["fd=6 name=x flags=MFD_CLOEXEC|MFD_ALLOW_SEALING"]]),
    ] as [([UInt8], [String: [String]])])
    func tableArgumentsRenderAsFalcoDoes(_ record: [UInt8], _ expected: [String: [String]]) {
        let h = HostStateTests.family()
        #expect(Self.fields(Array(expected.keys), record, h) == expected)
    }

    /// Every table row names a field the schema has (the table is checked when first used).
    @Test func everyTableRowResolves() {
        var described = 0
        for t in EventType.allCases where t.fromKernel {
            if let specs = ArgumentTable.specs[Int(t.rawValue)] {
                described += 1
                #expect(!specs.isEmpty)
                #expect(specs[0].name == "res" || specs[0].name == "fd", "\(t.name)")
                #expect(SyscallFields.argumentNames(t) == specs.map(\.name))
            } else {
                #expect(!SyscallFields.argumentNames(t).isEmpty, "\(t.name) has neither a table row nor a hand-written plan")
            }
        }
        #expect(described >= 60)
    }
}
