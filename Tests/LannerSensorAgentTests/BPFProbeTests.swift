import Foundation
import Glibc
import LannerSensorAgent
import LannerWire
import Testing

/// Real kernel, real syscalls: the probe is loaded and attached, a workload runs, and every record is
/// decoded with LannerWire and checked field by field. Serialized: each test owns the probe while it runs.
@Suite("BPFProbe on the running kernel", .serialized, .enabled(if: SensorEnv.bpfEnabled, SensorEnv.skipReason))
struct BPFProbeTests {
    static let programs = [
        "lanner_sched_exec", "lanner_exit_execve", "lanner_enter_execveat", "lanner_exit_execveat",
        "lanner_sched_fork", "lanner_sched_exit", "lanner_exit_open", "lanner_exit_openat",
        "lanner_exit_openat2", "lanner_exit_creat", "lanner_exit_connect",
        "lanner_exit_clone", "lanner_exit_clone3", "lanner_exit_fork", "lanner_exit_vfork",
    ]

    @Test func loadsAndAttachesEveryProgram() throws {
        let probe = try SensorEnv.probe()
        #expect(probe.programNames.sorted() == Self.programs.sorted())
        let n = try probe.poll(timeoutMs: 0) { _ in }
        #expect(n >= 0)
        let c = probe.counters()
        #expect(c.perCPU.count == Int(sysconf(Int32(_SC_NPROCESSORS_CONF))) || c.perCPU.count > 0)
        #expect(c.ringbufFull == 0)
    }

    /// The spawned child execs /bin/cat through a relative path from a chosen cwd: exec, clone (in this
    /// process, so this test does not ignore itself), the cat's open, and its exit.
    @Test func execOfRelativePathWithCloneAndExit() throws {
        let dir = makeTempDir("exec")
        defer { removeTree(dir) }
        write(dir + "/a.txt", "hello\n")
        let up = String(repeating: "../", count: dir.split(separator: "/").count)
        let rel = up + "bin/cat"
        let probe = try SensorEnv.probe(ignoring: [])
        _ = try drain(probe)

        let child = spawn("/bin/sh", ["sh", "-c", "cd \(dir) && exec \(rel) a.txt"])
        #expect(wait(child.pid) == 0)
        let got = try drain(probe)
        let me = UInt32(getpid())
        let pid = UInt32(child.pid)

        // clone in the parent: hdr.pid = this process, res = child tid, child_pid = child tgid
        let clones = try got.of(pid: me, types: [.clone, .clone3, .fork, .vfork]).map { try CloneEvent($0) }
            .filter { $0.childPid == pid }
        #expect(clones.count == 1)
        if let c = clones.first {
            #expect(c.res == Int64(pid))
            #expect(c.flags == 0)
            #expect(c.pid == me)
        }

        let execs = try got.of(pid: pid, types: [.execve]).map { try ExecveEvent($0) }
        #expect(execs.count == 2, "sh, then cat")
        let cat = try #require(execs.last)
        #expect(cat.res == 0)
        #expect(str(cat.exe) == realPath("/bin/cat"))
        #expect(str(cat.exe) == "/usr/bin/cat")
        #expect(str(cat.filename) == rel)
        #expect(Array(cat.args) == bytes(rel + "\0a.txt\0"))
        #expect(str(cat.cwd) == dir)
        #expect(str(cat.comm) == "cat")
        #expect(cat.ppid == me)
        #expect(cat.uid == 0 && cat.euid == 0 && cat.gid == 0)
        #expect(cat.vpid == pid)
        #expect(cat.sid == UInt32(getsid(0)))
        #expect(cat.pgid == UInt32(getpgrp()))
        #expect(cat.startNs > 0 && cat.startNs <= cat.ts)
        #expect(cat.exeFlags == (access("/usr/bin/cat", W_OK) == 0 ? 4 : 0), "writable by root (bit 2) and nothing else")
        let mine = try #require(ProcSnapshot.event(pid: me))
        #expect(cat.capEffective == mine.capEffective)
        #expect(cat.capPermitted == mine.capPermitted)
        #expect(cat.loginuid == mine.loginuid)
        #expect(cat.tty == mine.tty)
        #expect(Array(cat.cgroup) == Array(mine.cgroup), "same cgroup as its parent, by the same rule as /proc")
        let sh = execs[0]
        #expect(str(sh.filename) == "/bin/sh")
        #expect(str(sh.exe) == realPath("/bin/sh"))
        #expect(Array(sh.args) == bytes("sh\0-c\0cd \(dir) && exec \(rel) a.txt\0"))

        let opens = try got.of(pid: pid, types: [.openat]).map { try OpenEvent($0) }.filter { str($0.nameraw) == "a.txt" }
        #expect(opens.count == 1)
        #expect(opens.first.map { str($0.name) } == dir + "/a.txt")

        let exits = try got.of(pid: pid, types: [.procexit]).map { try ProcexitEvent($0) }
        #expect(exits.count == 1)
        #expect(exits.first?.status == 0)
        #expect(exits.first?.flags == 1)
        // order: clone, exec sh, exec cat, exit
        if let c = clones.first, let e = exits.first {
            #expect(c.ts <= execs[0].ts && execs[0].ts <= cat.ts && cat.ts <= e.ts)
        }
    }

    @Test func opensGiveCanonicalAndRawPaths() throws {
        let dir = makeTempDir("opens")
        defer { removeTree(dir) }
        write(dir + "/a.txt", "a\n")
        mkdir(dir + "/sub", 0o755)
        write(dir + "/sub/x", "x\n")
        symlink("sub", dir + "/link")
        let probe = try SensorEnv.probe()
        _ = try drain(probe)

        // this process opens files too: none of them may show up
        let own = open(dir + "/a.txt", O_RDONLY)
        close(own)
        let outPath = dir + "/workload.out"
        let w = spawn(SensorEnv.workload, ["lanner-workload", "opens", dir], captureTo: outPath)
        #expect(wait(w.pid) == 0)
        let got = try drain(probe)
        #expect(got.of(pid: UInt32(getpid())).isEmpty, "the sensor's own process is filtered in the kernel")
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let pipeIno = out.split(separator: "\n").first { $0.hasPrefix("pipe-ino=") }.map { String($0.dropFirst(9)) } ?? "?"

        let ours = Set(["a.txt", "sub", "x", "link/x", "sub/../a.txt", "missing.txt", "missing2", "sub/x", "new.txt", "/etc/hostname",
                        "/dev/null", "/proc/self/status"])
        let opens = try got.of(pid: UInt32(w.pid), types: [.open, .openat, .openat2, .creat]).map { try OpenEvent($0) }
            .filter { ours.contains(str($0.nameraw)) }
        struct Want { var type: EventType; var raw: String; var name: String; var ok: Bool; var res: Int64 = 0 }
        let want = [
            Want(type: .openat, raw: "a.txt", name: dir + "/a.txt", ok: true),
            Want(type: .openat, raw: "sub", name: dir + "/sub", ok: true),
            Want(type: .openat, raw: "x", name: dir + "/sub/x", ok: true),
            Want(type: .openat, raw: "link/x", name: dir + "/sub/x", ok: true),
            Want(type: .openat, raw: "sub/../a.txt", name: dir + "/a.txt", ok: true),
            Want(type: .openat, raw: "missing.txt", name: dir + "/missing.txt", ok: false, res: -2),
            Want(type: .openat, raw: "missing2", name: dir + "/sub/missing2", ok: false, res: -2),
            Want(type: .openat2, raw: "sub/x", name: dir + "/sub/x", ok: true),
            Want(type: .openat2, raw: "link/x", name: dir + "/link/x", ok: false, res: -40),
            Want(type: .open, raw: "a.txt", name: dir + "/a.txt", ok: true),
            Want(type: .creat, raw: "new.txt", name: dir + "/new.txt", ok: true),
            Want(type: .openat, raw: "/etc/hostname", name: realPath("/etc/hostname"), ok: true),
            Want(type: .openat, raw: "/dev/null", name: "/dev/null", ok: true),
            Want(type: .openat, raw: "/proc/self/status", name: "/proc/\(w.pid)/status", ok: true),
        ]
        try #require(opens.count == want.count, "\(opens.map { "\($0.type.name) \(str($0.nameraw)) \($0.res)" })")
        let subFD = opens[1].res
        for (o, w) in zip(opens, want) {
            #expect(o.type == w.type, "\(w.raw)")
            #expect(str(o.nameraw) == w.raw)
            #expect(str(o.name) == w.name, "\(w.type.name) \(w.raw)")
            if w.ok {
                #expect(o.res >= 3, "\(w.raw)")
                var st = stat()
                if w.name.hasPrefix("/proc/") { continue } // gone with the workload
                #expect(stat(w.name, &st) == 0)
                #expect(o.ino == UInt64(st.st_ino), "\(w.raw)")
                #expect(o.dev == kernelDev(UInt64(st.st_dev)), "\(w.raw)")
            } else {
                #expect(o.res == w.res, "\(w.raw)")
                #expect(o.dev == 0 && o.ino == 0)
            }
        }
        #expect(opens[2].dirfd == Int32(subFD), "openat(dirfd, \"x\") reports the directory fd")
        #expect(opens[6].dirfd == Int32(subFD))
        #expect(opens[0].dirfd == -100 && opens[9].dirfd == -100 && opens[10].dirfd == -100)
        #expect(opens[0].flags & UInt32(O_CLOEXEC) != 0)
        #expect(opens[1].flags & UInt32(O_DIRECTORY) != 0)
        #expect(opens[10].flags == UInt32(O_CREAT | O_WRONLY | O_TRUNC) && opens[10].mode == 0o640)

        // pseudo files reopened through /proc/self/fd/N: named as the kernel's d_dname would
        let reopened = try got.of(pid: UInt32(w.pid), types: [.openat]).map { try OpenEvent($0) }
            .filter { str($0.nameraw).hasPrefix("/proc/self/fd/") }
        #expect(reopened.map { str($0.name) } == ["pipe:[\(pipeIno)]", "memfd:lanner-mfd"])

        let c = probe.counters()
        #expect(c.emitted > 0)
        #expect(c.ringbufFull == 0)
        #expect(c.scratchBusy == 0)
    }

    /// The collector's `omit: ["open.nameraw"]` leaves the open family's path as passed out in the kernel, and only
    /// that: canonical names, flags, dirfd, mode and results are as before; omitting nothing brings it back live.
    @Test func omittedNamerawLeavesOnlyThePathAsPassedOut() throws {
        let dir = makeTempDir("omit")
        defer { removeTree(dir) }
        write(dir + "/a.txt", "a\n")
        mkdir(dir + "/sub", 0o755)
        write(dir + "/sub/x", "x\n")
        symlink("sub", dir + "/link")
        let probe = try SensorEnv.probe()
        let all = Set(EventType.allCases.map(\.rawValue))
        try probe.setInterest(all, omit: [Interest.Omit.openNameraw, "some.future.part"])
        #expect(probe.omitted == [Interest.Omit.openNameraw], "names this sensor does not know are not applied")
        _ = try drain(probe)

        func run() throws -> [OpenEvent] {
            let w = spawn(SensorEnv.workload, ["lanner-workload", "opens", dir])
            #expect(wait(w.pid) == 0)
            return try drain(probe).of(pid: UInt32(w.pid), types: [.open, .openat, .openat2, .creat]).map { try OpenEvent($0) }
                .filter { str($0.name).hasPrefix(dir) }
        }
        let omitted = try run()
        let byName = { (events: [OpenEvent]) in events.map { "\($0.type.name) \(str($0.name)) \($0.res >= 0) \($0.flags) \($0.mode)" } }
        #expect(Set(omitted.map(\.type)) == [.open, .openat, .openat2, .creat], "\(byName(omitted))")
        #expect(omitted.allSatisfy { $0.nameraw.isEmpty }, "\(omitted.map { str($0.nameraw) })")
        #expect(omitted.contains { $0.type == .creat && str($0.name) == dir + "/new.txt" && $0.flags == UInt32(O_CREAT | O_WRONLY | O_TRUNC) && $0.mode == 0o640 })
        #expect(omitted.contains { $0.type == .openat && str($0.name) == dir + "/sub/missing2" && $0.res == -2 && $0.dirfd >= 3 })

        try probe.setInterest(all)
        #expect(probe.omitted.isEmpty)
        let captured = try run()
        #expect(byName(captured) == byName(omitted), "the same records, apart from nameraw")
        #expect(captured.map { str($0.nameraw) }.contains("sub/../a.txt"))
        #expect(captured.allSatisfy { !$0.nameraw.isEmpty })
    }

    @Test func connectReportsBothEnds() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Bool in
                bind(listener, p, len) == 0 && listen(listener, 8) == 0 && getsockname(listener, p, &len) == 0
            }
        }
        try #require(bound)
        let port = UInt16(bigEndian: addr.sin_port)
        let probe = try SensorEnv.probe()
        _ = try drain(probe)

        let w = spawn(SensorEnv.workload, ["lanner-workload", "connect", String(port)])
        #expect(wait(w.pid) == 0)
        let got = try drain(probe)
        let conns = try got.of(pid: UInt32(w.pid), types: [.connect]).map { try ConnectEvent($0) }
        try #require(conns.count == 3, "tcp, udp, unix")
        let lo: [UInt8] = [127, 0, 0, 1] + [UInt8](repeating: 0, count: 12)
        let tcp = conns[0]
        #expect(tcp.res == 0)
        #expect(tcp.family == 2)
        #expect(tcp.socktype == 1)
        #expect(tcp.dport == port)
        #expect(Array(tcp.daddr) == lo)
        #expect(Array(tcp.saddr) == lo)
        #expect(tcp.sport != 0)
        #expect(tcp.fd >= 3)
        #expect(tcp.path.isEmpty)
        let udp = conns[1]
        #expect(udp.res == 0 && udp.family == 2 && udp.socktype == 2 && udp.dport == port)
        #expect(Array(udp.daddr) == lo && udp.sport != 0)
        let unix = conns[2]
        #expect(unix.res == -2)
        #expect(unix.family == 1)
        #expect(unix.socktype == 1)
        #expect(str(unix.path) == "/tmp/lanner-no-such.sock")
    }

    @Test(.enabled(if: access("/proc/net/if_inet6", R_OK) == 0, "no IPv6 on this host"))
    func connectOverIPv6() throws {
        let listener = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_addr = in6addr_loopback
        var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Bool in
                bind(listener, p, len) == 0 && listen(listener, 8) == 0 && getsockname(listener, p, &len) == 0
            }
        }
        try #require(bound, "bind [::1]:0")
        let port = UInt16(bigEndian: addr.sin6_port)
        let probe = try SensorEnv.probe()
        _ = try drain(probe)
        let w = spawn(SensorEnv.workload, ["lanner-workload", "connect6", String(port)])
        #expect(wait(w.pid) == 0)
        let got = try drain(probe)
        let c = try #require(try got.of(pid: UInt32(w.pid), types: [.connect]).map { try ConnectEvent($0) }.first)
        let lo6 = [UInt8](repeating: 0, count: 15) + [1]
        #expect(c.res == 0 && c.family == 10 && c.socktype == 1)
        #expect(c.dport == port && Array(c.daddr) == lo6)
        #expect(Array(c.saddr) == lo6 && c.sport != 0)
    }

    @Test func forkThreadAndExits() throws {
        let probe = try SensorEnv.probe()
        _ = try drain(probe)
        let w = spawn(SensorEnv.workload, ["lanner-workload", "fork"])
        #expect(wait(w.pid) == 0)
        let pid = UInt32(w.pid)
        let got = try drain(probe)
        let all = try got.of(pid: pid, types: [.clone, .clone3, .fork, .vfork]).map { try CloneEvent($0) }
        let clones = all.filter { $0.res >= 0 }, failed = all.filter { $0.res < 0 }
        try #require(clones.count == 2, "fork(), then pthread_create")
        // then clone(CLONE_THREAD) and clone3 with a short size, both EINVAL, from the syscalls' exit hooks
        #expect(failed.map(\.type) == [.clone, .clone3])
        #expect(failed.allSatisfy { $0.res == -Int64(EINVAL) && $0.childPid == 0 }, "\(failed)")
        #expect(failed.map(\.flags) == [1, 0], "clone asked for a thread; clone3's flags are not read")
        #expect(failed.allSatisfy { str($0.comm) == "lanner-workload" })
        let proc = clones[0], thread = clones[1]
        #expect(proc.type == .clone, "glibc fork() is clone(2)")
        #expect(proc.flags == 0 && proc.childPid != pid && proc.res == Int64(proc.childPid))
        #expect(thread.type == .clone3, "glibc pthread_create is clone3(2)")
        #expect(thread.flags == 1 && thread.childPid == pid && thread.res != Int64(pid))

        let childExit = try got.of(pid: proc.childPid, types: [.procexit]).map { try ProcexitEvent($0) }
        #expect(childExit.count == 1)
        #expect(childExit.first?.status == 7 << 8, "exit(7) as wait(2) encodes it")
        #expect(childExit.first?.flags == 1)
        let exits = try got.of(pid: pid, types: [.procexit]).map { try ProcexitEvent($0) }
        #expect(exits.count == 2, "the thread, then the process")
        #expect(exits.first.map { Int64($0.tid) } == thread.res)
        #expect(exits.first?.flags == 0, "a thread's exit leaves the group alive")
        #expect(exits.last?.tid == pid && exits.last?.flags == 1 && exits.last?.status == 0)
    }

    @Test func memfdExecIsExecveat() throws {
        let probe = try SensorEnv.probe()
        _ = try drain(probe)
        let w = spawn(SensorEnv.workload, ["lanner-workload", "memfd-exec"])
        #expect(wait(w.pid) == 0)
        let got = try drain(probe)
        let execs = try got.of(pid: UInt32(w.pid), types: [.execve, .execveat]).map { try ExecveEvent($0) }
        try #require(execs.count == 2)
        #expect(execs[0].type == .execve)
        #expect(str(execs[0].exe) == SensorEnv.workload)
        let m = execs[1]
        #expect(m.type == .execveat)
        #expect(str(m.exe) == "memfd:lanner-test")
        #expect(m.exeFlags & 2 != 0, "exe from a memfd")
        #expect(str(m.filename).hasPrefix("/dev/fd/"))
        #expect(Array(m.args) == bytes("memfd-true\0--lanner\0"))
    }

    /// posix_spawn's child fails in execve (glibc then reaps it and returns ENOENT, so its pid is not
    /// known here): the record is found by its filename.
    @Test func failedExecCarriesErrno() throws {
        let probe = try SensorEnv.probe()
        _ = try drain(probe)
        let child = spawn("/nonexistent/lanner-nope", ["nope", "arg1"])
        if child.pid > 0 { _ = wait(child.pid) }
        let got = try drain(probe)
        let failed = try got.records.filter { $0.eventType == .execve }.map { try ExecveEvent($0) }
            .filter { str($0.filename) == "/nonexistent/lanner-nope" }
        try #require(failed.count == 1)
        #expect(failed[0].res == -2)
        #expect(failed[0].exe.isEmpty)
        #expect(Array(failed[0].args) == bytes("nope\0arg1\0"))
        #expect(failed[0].ppid == UInt32(getpid()))
        #expect(failed[0].pid != UInt32(getpid()))
        #expect(str(failed[0].cwd) == realPath(FileManager.default.currentDirectoryPath))
        #expect(str(failed[0].comm) != "")
    }

    @Test func argvIsCappedAtTheLimit() throws {
        let probe = try SensorEnv.probe(argvLimit: 10)
        _ = try drain(probe)
        let w = spawn("/bin/echo", ["echo", "0123456789abcdef"])
        #expect(wait(w.pid) == 0)
        let got = try drain(probe)
        let e = try #require(try got.of(pid: UInt32(w.pid), types: [.execve]).map { try ExecveEvent($0) }.first)
        #expect(Array(e.args) == bytes("echo\u{0}01234"))
    }

    @Test func interestSwitchesEventTypesOff() throws {
        let dir = makeTempDir("interest")
        defer { removeTree(dir) }
        write(dir + "/a.txt", "a\n")
        mkdir(dir + "/sub", 0o755)
        write(dir + "/sub/x", "x\n")
        symlink("sub", dir + "/link")
        let probe = try SensorEnv.probe()
        let all = Set(EventType.allCases.map(\.rawValue))
        try probe.setInterest(all.subtracting([EventType.openat.rawValue]))
        _ = try drain(probe)
        let w1 = spawn(SensorEnv.workload, ["lanner-workload", "opens", dir])
        #expect(wait(w1.pid) == 0)
        let off = try drain(probe)
        #expect(off.of(pid: UInt32(w1.pid), types: [.openat]).isEmpty)
        #expect(!off.of(pid: UInt32(w1.pid), types: [.open]).isEmpty, "other types still flow")
        #expect(!off.of(pid: UInt32(w1.pid), types: [.openat2]).isEmpty)
        #expect(!off.of(pid: UInt32(w1.pid), types: [.execve]).isEmpty)

        try probe.setInterest(all)
        let w2 = spawn(SensorEnv.workload, ["lanner-workload", "opens", dir])
        #expect(wait(w2.pid) == 0)
        let on = try drain(probe)
        #expect(!on.of(pid: UInt32(w2.pid), types: [.openat]).isEmpty)
    }

    /// A burst of opens with a consumer draining: the ring never overflows. Prints the Swift consumer's
    /// CPU time per record (a measurement, not an assertion).
    @Test func openLoopLosesNothing() throws {
        let probe = try SensorEnv.probe()
        _ = try drain(probe)
        let before = probe.counters()
        let cpu0 = threadCPUNanoseconds()
        let t0 = ProcessInfo.processInfo.systemUptime
        let w = spawn(SensorEnv.workload, ["lanner-workload", "openloop", "50000"])
        var seen = 0
        var bytes = 0
        var status: Int32 = 0
        while true {
            seen += try probe.poll(timeoutMs: 10) { raw in
                bytes &+= Int(raw.loadUnaligned(fromByteOffset: 0, as: UInt16.self))
            }
            if waitpid(w.pid, &status, WNOHANG) == w.pid { break }
        }
        seen += try probe.poll(timeoutMs: 0) { raw in bytes &+= raw.count }
        let elapsed = ProcessInfo.processInfo.systemUptime - t0
        let cpu = threadCPUNanoseconds() - cpu0
        let after = probe.counters()
        #expect(status == 0)
        #expect(after.ringbufFull == before.ringbufFull, "no record lost to a full ring")
        #expect(after.scratchBusy == before.scratchBusy)
        #expect(after.emitted - before.emitted >= 50000)
        #expect(seen >= 50000)
        print("openLoopLosesNothing: \(seen) records, \(bytes) bytes in \(String(format: "%.2f", elapsed)) s; "
            + "consumer \(cpu / UInt64(max(seen, 1))) ns CPU per record (poll + callback)")
    }

    /// Records that wrap the end of the ring arrive whole and in order: the consumer maps the ring's data
    /// once and copies a record that wraps (CBPF's lanner_ring). A 64 KiB ring, 6,000 failed opens of paths
    /// of 30 to 430 bytes (each record's name and nameraw are that path), drained every 40 opens so that
    /// the ring never fills, many laps of the ring.
    @Test func recordsWrappingTheRingArriveWhole() throws {
        let ring = 64 << 10
        let probe = try SensorEnv.probe(ignoring: [], ringBufferBytes: ring)
        _ = try drain(probe)
        let me = UInt32(getpid())
        let prefix = "/nonexistent-lanner-wrap/"
        var expected: [String] = []
        var names: [String] = []
        var bytes = 0
        var undecodable = 0
        func take() throws {
            var empty = 0
            while empty < 2 {
                let n = try probe.poll(timeoutMs: 0) { raw in
                    guard raw.count >= 20, raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self) == me,
                          raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self) == EventType.openat.rawValue else { return }
                    let r = EventRecord(storage: Array(raw), start: 0, length: raw.count)
                    guard r.load(UInt16.self, at: 0) == raw.count, (try? r.validate()) != nil, let e = try? OpenEvent(r) else {
                        undecodable += 1
                        return
                    }
                    guard str(e.nameraw).hasPrefix(prefix) else { return }
                    #expect(str(e.name) == str(e.nameraw))
                    names.append(str(e.nameraw))
                    bytes += raw.count
                }
                empty = n == 0 ? empty + 1 : 0
            }
        }
        let before = probe.counters()
        for i in 0..<6000 {
            let path = prefix + String(repeating: "x", count: 1 + (i &* 37) % 400) + "/\(i)"
            expected.append(path)
            let fd = open(path, O_RDONLY)
            #expect(fd < 0)
            if i % 40 == 39 { try take() }
        }
        try take()
        let after = probe.counters()
        #expect(after.ringbufFull == before.ringbufFull, "drained often enough that the ring never filled")
        #expect(undecodable == 0)
        #expect(names == expected)
        #expect(bytes > 20 * ring, "the ring was lapped many times (\(bytes) bytes of records)")
    }

    /// The kernel's EXECVE record and the /proc snapshot's PROCINFO record of the same process agree
    /// field by field, so the collector can treat both alike.
    @Test func kernelExecAgreesWithProcSnapshot() throws {
        let probe = try SensorEnv.probe()
        _ = try drain(probe)
        let child = spawn("/bin/sleep", ["sleep", "5"])
        defer { kill(child.pid, SIGKILL); _ = wait(child.pid) }
        var snap: ExecveEvent?
        for _ in 0..<400 {
            snap = ProcSnapshot.event(pid: UInt32(child.pid))
            if let s = snap, str(s.comm) == "sleep", !s.args.isEmpty { break }
            usleep(5000)
        }
        let p = try #require(snap)
        let got = try drain(probe)
        let k = try #require(try got.of(pid: UInt32(child.pid), types: [.execve]).map { try ExecveEvent($0) }.last)
        #expect(k.ppid == p.ppid && k.uid == p.uid && k.gid == p.gid && k.euid == p.euid)
        #expect(k.loginuid == p.loginuid && k.vpid == p.vpid && k.sid == p.sid && k.pgid == p.pgid && k.tty == p.tty)
        #expect(k.capEffective == p.capEffective && k.capPermitted == p.capPermitted)
        #expect(k.comm == p.comm && k.exe == p.exe && k.args == p.args && k.cwd == p.cwd && k.cgroup == p.cgroup)
        #expect(k.exeFlags == p.exeFlags)
        let tick = 1_000_000_000 / UInt64(sysconf(Int32(_SC_CLK_TCK)))
        #expect(k.startNs >= p.startNs && k.startNs - p.startNs < tick, "starttime is in clock ticks in /proc")
    }

    @Test func defaultObjectPathFindsTheBuild() throws {
        let candidates = BPFProbe.candidateObjectPaths()
        #expect(candidates.last == "/usr/lib/lanner/lanner.bpf.o")
        // From SwiftPM's own build directory inside the repository the object is found either next to the
        // binaries (`make debug` copies it there) or in sensor/build: the same bytes either way.
        let exeDir = realPath("/proc/self/exe")
        if exeDir.hasPrefix(SensorEnv.repo + "/.build/"), getenv("LANNER_BPF_OBJECT") == nil {
            let found = try #require(BPFProbe.defaultObjectPath())
            let same = FileManager.default.contents(atPath: found) == FileManager.default.contents(atPath: SensorEnv.objectPath)
            #expect(realPath(found) == realPath(SensorEnv.objectPath) || same, "found \(found)")
        }
    }
}

func threadCPUNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// The kernel's internal dev_t (MAJOR << 20 | MINOR) from stat's st_dev (glibc's encoding).
func kernelDev(_ d: UInt64) -> UInt32 {
    let major = ((d >> 8) & 0xfff) | ((d >> 32) & ~UInt64(0xfff))
    let minor = (d & 0xff) | ((d >> 12) & ~UInt64(0xff))
    return UInt32(truncatingIfNeeded: major << 20 | minor)
}
