import Testing
import LannerRules
import LannerWire
import LannerTestSupport
@testable import LannerEnrich

/// Host state rebuilt from records, and the fields extracted from it.
@Suite struct HostStateTests {
    /// Applies records in order (as the collector does: exit after evaluation).
    static func apply(_ host: HostState, _ records: [[UInt8]]) {
        for r in records {
            r.withUnsafeBytes { raw in
                let v = RecordView(base: raw.baseAddress!, length: raw.count)!
                host.apply(v)
                host.applyExit(v)
            }
        }
    }

    /// Extracts `field` for `record` in `host` and returns the values as text.
    static func field(_ name: String, _ record: [UInt8], _ host: HostState, arg: String? = nil,
                      timeNs: UInt64 = 1_796_000_000_000_001_000) -> [String] {
        let resolved = try! FieldCatalog.falco.resolve(name, arg: arg).get()
        guard let extract = SyscallFields().extractor(for: resolved) else { return ["<unsupported>"] }
        let ctx = EventContext(host: host)
        let scratch = EvalScratch()
        return record.withUnsafeBytes { raw in
            let v = RecordView(base: raw.baseAddress!, length: raw.count)!
            host.apply(v)
            ctx.set(v, host: host, eventNumber: 7, timeNs: timeNs)
            scratch.beginEvent()
            extract(ctx, scratch)
            return scratch.extractedValues.map { v -> String in
                switch v {
                case .bytes(let b): return String(decoding: b, as: UTF8.self)
                case .int(let n): return String(n)
                case .uint(let n): return String(n)
                case .bool(let b): return String(b)
                case .ip(let a): return a.description
                case .net(let n): return n.description
                }
            }
        }
    }

    static func family() -> HostState {
        let h = HostState(hostname: "web-1")
        apply(h, [
            Rec.user(uid: 0, name: "root"), Rec.user(uid: 1000, name: "alice"),
            Rec.exec(.procinfo, pid: 1, ppid: 0, comm: "systemd", exe: "/usr/lib/systemd/systemd", args: ["/sbin/init"]),
            Rec.exec(.procinfo, pid: 100, ppid: 1, comm: "sshd", exe: "/usr/sbin/sshd", args: ["sshd:", "alice"]),
            Rec.exec(.procinfo, pid: 200, ppid: 100, comm: "bash", exe: "/usr/bin/bash", args: ["-bash"], uid: 1000, loginuid: 1000, tty: 34816),
        ])
        return h
    }

    @Test func snapshotBuildsTheProcessTree() {
        let h = Self.family()
        let open = Rec.open(pid: 200, name: "/etc/passwd")
        #expect(Self.field("proc.name", open, h) == ["bash"])
        #expect(Self.field("proc.pname", open, h) == ["sshd"])
        #expect(Self.field("proc.aname", open, h, arg: "2") == ["systemd"])
        #expect(Self.field("proc.aname", open, h) == ["sshd", "systemd"])
        #expect(Self.field("proc.cmdline", open, h) == ["bash"])
        #expect(Self.field("user.name", open, h) == ["alice"])
        #expect(Self.field("user.loginname", open, h) == ["alice"])
        #expect(Self.field("user.loginuid", open, h) == ["1000"])
        #expect(Self.field("proc.tty", open, h) == ["34816"])
        #expect(Self.field("container.id", open, h) == ["host"])
    }

    /// Process fields derived from the tree: ancestors' args, leaders, counts, start times, threads.
    @Test(arguments: [
        ("proc.exeline", 100, nil, ["sshd: alice"]),
        ("proc.cmdnargs", 100, nil, ["1"]),
        ("proc.cmdlenargs", 100, nil, ["5"]),
        ("proc.cmdnargs", 200, nil, ["0"]),
        ("proc.aargs", 200, "1", ["alice"]),
        ("proc.aargs", 200, nil, ["alice", ""]),
        ("proc.sid.exe", 200, nil, ["-bash"]),
        ("proc.sid.exepath", 200, nil, ["/usr/bin/bash"]),
        ("proc.pgid.name", 100, nil, ["sshd"]),
        ("proc.vpgid.exepath", 100, nil, ["/usr/sbin/sshd"]),
        ("proc.pid.ts", 200, nil, ["1796000000000000000"]),
        ("proc.ppid.ts", 200, nil, ["1796000000000000000"]),
        ("proc.ppid.duration", 200, nil, ["1000"]),
        ("proc.nthreads", 200, nil, ["1"]),
        ("proc.nchilds", 200, nil, ["0"]),
        ("thread.ismain", 200, nil, ["true"]),
    ] as [(String, UInt32, String?, [String])])
    func treeDerivedProcessFields(_ name: String, _ pid: UInt32, _ arg: String?, _ expected: [String]) {
        let h = Self.family()
        #expect(Self.field(name, Rec.open(pid: pid, name: "/etc/passwd", ts: 2000), h, arg: arg) == expected)
    }

    @Test func threadCountsFollowClonesAndExits() {
        let h = Self.family()
        Self.apply(h, [Rec.clone(parent: 200, child: 201, thread: true), Rec.clone(parent: 200, child: 202, thread: true)])
        #expect(Self.field("proc.nthreads", Rec.open(pid: 200, name: "/x"), h) == ["3"])
        #expect(Self.field("proc.nchilds", Rec.open(pid: 200, name: "/x"), h) == ["2"])
        Self.apply(h, [Rec.exit(pid: 200, tid: 201, group: false)])
        #expect(Self.field("proc.nthreads", Rec.open(pid: 200, name: "/x"), h) == ["2"])
    }

    /// exe_flags bits (events.yaml): 0 upper layer, 1 memfd, 2 writable, 3 lower layer, 4 written by the process or its parent.
    @Test(arguments: [
        (UInt32(0), "0", [false, false, false, false, false]),
        (UInt32(4 | 2), "EXE_WRITABLE|EXE_FROM_MEMFD", [true, false, true, false, false]),
        (UInt32(1), "EXE_UPPER_LAYER", [false, true, false, false, false]),
        (UInt32(8), "EXE_LOWER_LAYER", [false, false, false, true, false]),
        (UInt32(16 | 4), "EXE_WRITABLE", [true, false, false, false, true]),
        (UInt32(31), "EXE_WRITABLE|EXE_UPPER_LAYER|EXE_FROM_MEMFD|EXE_LOWER_LAYER", [true, true, true, true, true]),
    ])
    func exeFlagsAsFieldsAndText(flags: UInt32, text: String, bits: [Bool]) {
        let h = Self.family()
        let exec = Rec.exec(pid: 300, ppid: 200, comm: "t", exe: "/tmp/t", args: ["t"], exeFlags: flags)
        #expect(Self.field("evt.arg", exec, h, arg: "flags") == [text])
        let names = ["proc.is_exe_writable", "proc.is_exe_upper_layer", "proc.is_exe_from_memfd", "proc.is_exe_lower_layer",
                     "proc.is_exe_written"]
        #expect(names.map { Self.field($0, exec, h) } == bits.map { [$0 ? "true" : "false"] })
    }

    @Test func aFailedCloneMakesNoProcess() {
        let h = Self.family()
        let before = Self.field("proc.nchilds", Rec.open(pid: 200, name: "/x"), h)
        Self.apply(h, [Rec.clone(parent: 200, child: 0, res: -11), Rec.clone(parent: 200, child: 0, thread: true, res: -22)])
        #expect(Self.field("proc.nchilds", Rec.open(pid: 200, name: "/x"), h) == before)
        #expect(Self.field("proc.nthreads", Rec.open(pid: 200, name: "/x"), h) == ["1"])
        #expect(Self.field("proc.name", Rec.open(pid: 0, name: "/x"), h) != ["bash"], "no entry for pid 0 inherited from the parent")
        #expect(Self.field("evt.res", Rec.clone(parent: 200, child: 0, res: -11), h) == ["EAGAIN"])
    }

    @Test func forkInheritsAndExecReplaces() {
        let h = Self.family()
        Self.apply(h, [Rec.clone(parent: 200, child: 300, comm: "bash")])
        let childOpen = Rec.open(pid: 300, name: "/tmp/x")
        #expect(Self.field("proc.name", childOpen, h) == ["bash"])
        #expect(Self.field("proc.pname", childOpen, h) == ["bash"])
        Self.apply(h, [Rec.exec(pid: 300, ppid: 200, comm: "cat", exe: "/usr/bin/cat", args: ["cat", "/etc/shadow"], uid: 1000)])
        #expect(Self.field("proc.name", childOpen, h) == ["cat"])
        #expect(Self.field("proc.cmdline", childOpen, h) == ["cat /etc/shadow"])
        #expect(Self.field("proc.args", childOpen, h) == ["/etc/shadow"])
        #expect(Self.field("proc.exepath", childOpen, h) == ["/usr/bin/cat"])
        #expect(Self.field("proc.pcmdline", childOpen, h) == ["bash"], "argv[0] is not an argument")
    }

    @Test func aParentRenamedSinceItsExecIsSeenAtFork() {
        let h = Self.family()
        Self.apply(h, [Rec.clone(parent: 200, child: 301, comm: "lanner-httpd"),
                       Rec.exec(pid: 301, ppid: 200, comm: "sh", exe: "/usr/bin/dash", args: ["sh", "-c", "true"])])
        #expect(Self.field("proc.pname", Rec.open(pid: 301, name: "/x"), h) == ["lanner-httpd"])
    }

    @Test func exitedParentsStayWhileChildrenNeedThem() {
        let h = Self.family()
        Self.apply(h, [Rec.clone(parent: 200, child: 400), Rec.exit(pid: 200)])
        #expect(h.processes[200] != nil, "bash exited but its child still names it")
        #expect(Self.field("proc.pname", Rec.open(pid: 400, name: "/x"), h) == ["bash"])
        Self.apply(h, [Rec.exit(pid: 400)])
        #expect(h.processes[400] == nil)
        #expect(h.processes[200] == nil, "reaped once the last child is gone")
    }

    @Test func threadExitDoesNotEndTheProcess() {
        let h = Self.family()
        Self.apply(h, [Rec.clone(parent: 200, child: 201, thread: true), Rec.exit(pid: 200, tid: 201, group: false)])
        #expect(h.processes[200]?.alive == true)
    }

    @Test func failedExecChangesNothing() {
        let h = Self.family()
        Self.apply(h, [Rec.exec(pid: 200, ppid: 100, comm: "evil", exe: "", args: [], res: -2)])
        #expect(h.processes[200]?.comm.string == "bash")
    }

    @Test func unknownProcessesArePlaceholdersWithMissingFields() {
        let h = Self.family()
        let open = Rec.open(pid: 9999, name: "/etc/shadow")
        #expect(Self.field("proc.name", open, h) == [])
        #expect(Self.field("proc.pid", open, h) == ["9999"])
    }

    @Test func theTableIsBounded() {
        let h = HostState(hostname: "h", maxProcesses: 50)
        for pid in 1...200 { Self.apply(h, [Rec.exec(.procinfo, pid: UInt32(pid), ppid: 1, comm: "p", exe: "/p", args: [])]) }
        #expect(h.processes.count <= 50)
        #expect(h.evicted >= 150)
    }

    @Test func fileAndSocketFields() {
        let h = Self.family()
        let open = Rec.open(pid: 200, name: "/etc/shadow", raw: "../etc/shadow", flags: 0o2000101)
        #expect(Self.field("fd.name", open, h) == ["/etc/shadow"])
        #expect(Self.field("fd.nameraw", open, h) == ["../etc/shadow"])
        // a sensor told that no rule reads it leaves it empty: no value, not an empty path
        #expect(Self.field("fd.nameraw", Rec.open(pid: 200, name: "/etc/shadow", raw: ""), h) == [])
        #expect(Self.field("fd.nameraw", Rec.open(pid: 200, name: "/x", raw: "", res: -2), h) == [""], "a failed open of \"\" passed it")
        #expect(Self.field("evt.arg", Rec.open(pid: 200, name: "/etc/shadow", raw: ""), h, arg: "name") == [])
        #expect(Self.field("evt.arg", open, h, arg: "name") == ["../etc/shadow"])
        #expect(Self.field("fd.directory", open, h) == ["/etc"])
        #expect(Self.field("fd.filename", open, h) == ["shadow"])
        #expect(Self.field("fd.typechar", open, h) == ["f"])
        #expect(Self.field("evt.is_open_write", open, h) == ["true"])
        #expect(Self.field("evt.is_open_read", open, h) == ["false"])
        #expect(Self.field("evt.arg", open, h, arg: "flags") == ["O_WRONLY|O_CREAT|O_CLOEXEC"])
        #expect(Self.field("evt.type", open, h) == ["openat"])
        #expect(Self.field("evt.res", open, h) == ["SUCCESS"])
        let failed = Rec.open(pid: 200, name: "/root/nope", res: -2)
        #expect(Self.field("fd.num", failed, h) == ["-1"])
        #expect(Self.field("evt.res", failed, h) == ["ENOENT"])
        #expect(Self.field("evt.rawres", failed, h) == ["-2"])
        let conn = Rec.connect(pid: 200, sport: 40000, dport: 443, daddr: [93, 184, 216, 34])
        #expect(Self.field("fd.name", conn, h) == ["127.0.0.1:40000->93.184.216.34:443"])
        #expect(Self.field("fd.sip", conn, h) == ["93.184.216.34"])
        #expect(Self.field("fd.sport", conn, h) == ["443"])
        #expect(Self.field("fd.l4proto", conn, h) == ["tcp"])
        #expect(Self.field("fd.typechar", conn, h) == ["4"])
        #expect(Self.field("fd.name", Rec.exec(pid: 200, ppid: 100, comm: "x", exe: "/x", args: []), h) == [])
    }

    @Test(arguments: [
        ("/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
        ("/docker/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("/libpod_parent/libpod-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("/kubepods/besteffort/pod1234/cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"),
        ("/kubepods.slice/cri-containerd-dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.scope", "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"),
        ("/machine.slice/crio-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.scope", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"),
        // Seen on this kind of machine: podman with --cgroup-parent /kubepods/... (cgroupfs), and cri-o/kubelet v1 shapes.
        ("/kubepods/besteffort/pod8c2b3e7d-5f1a-4c9e-9d2b-0a1b2c3d4e5f/libpod-1f6182ec81cae3c039208af68acf6556262726667f621b6cf3f195e3f2260b94",
         "1f6182ec81cae3c039208af68acf6556262726667f621b6cf3f195e3f2260b94"),
        ("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod8c2b3e7d_5f1a.slice/crio-1f6182ec81cae3c039208af68acf6556262726667f621b6cf3f195e3f2260b94.scope",
         "1f6182ec81cae3c039208af68acf6556262726667f621b6cf3f195e3f2260b94"),
        ("/kubepods/burstable/pod1234/1f6182ec81cae3c039208af68acf6556262726667f621b6cf3f195e3f2260b9", nil),
        ("/libpod_parent/conmon", nil),
        ("/machine.slice/libpod-conmon-ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff.scope", nil),
        ("/user.slice/user-0.slice/session-1.scope", nil),
        ("/", nil),
    ] as [(String, String?)])
    func containerIDsFromCgroups(cgroup: String, id: String?) {
        #expect(ContainerID.parse(cgroup) == id)
    }

    @Test func containerProcessesGetTheShortID() {
        let h = Self.family()
        let id = String(repeating: "ab", count: 32)
        Self.apply(h, [Rec.exec(pid: 500, ppid: 1, comm: "nginx", exe: "/usr/sbin/nginx", args: ["nginx"], cgroup: "/libpod_parent/libpod-" + id)])
        let open = Rec.open(pid: 500, name: "/etc/shadow")
        #expect(Self.field("container.id", open, h) == [String(id.prefix(12))])
        #expect(Self.field("container.full_id", open, h) == [id])
        #expect(Self.field("container.name", open, h) == [], "not known until the runtime's metadata arrives")
    }

    @Test func layoutOffsetsMatchTheGeneratedSchema() {
        func pos(_ t: EventType, _ f: String) -> Int { t.fields.first { $0.name == f }!.position }
        #expect(pos(.execve, "res") == Layout.Exec.res)
        #expect(pos(.execve, "ppid") == Layout.Exec.ppid)
        #expect(pos(.execve, "loginuid") == Layout.Exec.loginuid)
        #expect(pos(.execve, "tty") == Layout.Exec.tty)
        #expect(pos(.execve, "cap_effective") == Layout.Exec.capEffective)
        #expect(pos(.execve, "start_ns") == Layout.Exec.startNs)
        #expect(pos(.execve, "exe_flags") == Layout.Exec.exeFlags)
        #expect(pos(.execve, "cgroup") == Layout.Exec.cgroup)
        #expect(pos(.clone, "child_pid") == Layout.Clone.childPid)
        #expect(pos(.openat, "flags") == Layout.Open.flags)
        #expect(pos(.openat, "ino") == Layout.Open.ino)
        #expect(pos(.openat, "nameraw") == Layout.Open.nameraw)
        #expect(pos(.connect, "daddr") == Layout.Connect.daddr)
        #expect(pos(.connect, "dport") == Layout.Connect.dport)
        #expect(pos(.procexit, "flags") == Layout.Exit.flags)
        #expect(pos(.userinfo, "shell") == Layout.User.shell)
    }
}
