import Foundation
import Glibc
import LannerSensorAgent
import LannerWire
import Testing

/// Schema 1.1's syscalls, each produced by a real call of sensor/test/workload.c and checked field by field.
/// Part of the serialized BPFProbeTests suite (an extension), so no two probes run at once.
extension BPFProbeTests {
    /// Runs `lanner-workload ARGS…` under a fresh probe that wants `interest`, drained before the start; the
    /// scenario must exit 0. Returns the probe, the workload's pid, the KEY=VALUE lines it printed into `output`
    /// (empty without one; stdout and stderr go to /dev/null then) and every record drained after it ended.
    static func runWorkload(_ args: [String], output: String? = nil, interest: Set<UInt16> = SensorEnv.allKernelEvents,
                            sourceLocation: SourceLocation = #_sourceLocation) throws
        -> (probe: BPFProbe, pid: UInt32, kv: [String: String], got: Drained)
    {
        let probe = try SensorEnv.probe(interest: interest, sourceLocation: sourceLocation)
        _ = try drain(probe, sourceLocation: sourceLocation)
        let w = spawn(SensorEnv.workload, ["lanner-workload"] + args, captureTo: output)
        #expect(wait(w.pid) == 0, "lanner-workload \(args.joined(separator: " "))", sourceLocation: sourceLocation)
        let kv = output.map(keyValues) ?? [:]
        let got = try drain(probe, sourceLocation: sourceLocation)
        return (probe, UInt32(w.pid), kv, got)
    }

    @Test func pathSyscallsGiveAbsoluteCanonicalPaths() throws {
        let dir = makeFixtureDir("files")
        defer { removeTree(dir) }
        let (probe, pid, _, got) = try Self.runWorkload(["files", dir])
        let opens = try got.of(pid: pid, types: [.openat]).map { try OpenEvent($0) }
        let dfd = try #require(opens.first { str($0.nameraw) == "sub" }).res
        let fd = try #require(opens.first { str($0.nameraw) == "b.txt" }).res
        let D = dir

        let chdirs = try got.of(pid: pid, types: [.chdir]).map { try ChdirEvent($0) }.map { "\($0.res) \(str($0.path)) \(str($0.pathraw))" }
        #expect(chdirs == ["0 \(D) \(D)", "-2 \(D)/nope nope", "0 \(D) .."], "chdir: the new cwd read back from the task")
        let fchdirs = try got.of(pid: pid, types: [.fchdir]).map { try FchdirEvent($0) }.map { "\($0.res) \($0.fd) \(str($0.fdpath))" }
        #expect(fchdirs == ["0 \(dfd) \(D)/sub"])

        let mkdirs = try got.of(pid: pid, types: [.mkdir, .mkdirat]).map { try MkdirEvent($0) }
            .map { "\($0.type.name) \($0.res) \($0.dirfd) \(String($0.mode, radix: 8)) \(str($0.path)) \(str($0.pathraw))" }
        #expect(mkdirs == ["mkdir 0 -100 750 \(D)/d1 d1", "mkdirat 0 \(dfd) 700 \(D)/sub/d2 d2", "mkdir -17 -100 750 \(D)/d1 d1"])

        let renames = try got.of(pid: pid, types: [.rename, .renameat, .renameat2]).map { try RenameEvent($0) }
            .map { "\($0.type.name) \($0.res) \($0.olddirfd) \($0.newdirfd) \($0.flags) \(str($0.oldpath)) \(str($0.oldpathraw)) \(str($0.newpath)) \(str($0.newpathraw))" }
        #expect(renames == [
            "rename 0 -100 -100 0 \(D)/a.txt a.txt \(D)/b.txt sub/../b.txt",
            "renameat 0 \(dfd) -100 0 \(D)/sub/x x \(D)/y y",
            "renameat2 0 -100 \(dfd) 1 \(D)/y y \(D)/sub/x x",
            "rename -2 -100 -100 0 \(D)/missing missing \(D)/m2 m2",
        ])

        let links = try got.of(pid: pid, types: [.link, .linkat]).map { try LinkEvent($0) }
            .map { "\($0.type.name) \($0.res) \($0.olddir) \($0.newdir) \($0.flags) \(str($0.oldpath)) \(str($0.oldpathraw)) \(str($0.newpath)) \(str($0.newpathraw))" }
        #expect(links == [
            "link 0 -100 -100 0 \(D)/b.txt b.txt \(D)/hard hard",
            "linkat 0 -100 \(dfd) 0 \(D)/hard hard \(D)/sub/hard2 hard2",
            "linkat 0 \(fd) -100 \(K.AT_EMPTY_PATH) \(D)/b.txt  \(D)/viafd viafd",
        ], "K.AT_EMPTY_PATH names the fd's own file")

        let symlinks = try got.of(pid: pid, types: [.symlink, .symlinkat]).map { try SymlinkEvent($0) }
            .map { "\($0.type.name) \($0.res) \($0.linkdirfd) \(str($0.target)) \(str($0.linkpath)) \(str($0.linkpathraw))" }
        #expect(symlinks == ["symlink 0 -100 b.txt \(D)/sym sym", "symlinkat 0 \(dfd) /etc/hostname \(D)/sub/sym2 sym2"])

        let chmods = try got.of(pid: pid, types: [.chmod, .fchmodat]).map { try ChmodEvent($0) }
            .map { "\($0.type.name) \($0.res) \($0.dirfd) \(String($0.mode, radix: 8)) \(str($0.filename)) \(str($0.filenameraw))" }
        #expect(chmods == ["chmod 0 -100 600 \(D)/b.txt b.txt", "fchmodat 0 \(dfd) 640 \(D)/sub/hard2 hard2"])
        let fchmods = try got.of(pid: pid, types: [.fchmod]).map { try FchmodEvent($0) }
            .map { "\($0.res) \($0.fd) \(String($0.mode, radix: 8)) \(str($0.fdpath))" }
        #expect(fchmods == ["0 \(fd) 644 \(D)/b.txt"])

        let chowns = try got.of(pid: pid, types: [.chown, .lchown]).map { try ChownEvent($0) }
            .map { "\($0.type.name) \($0.res) \($0.uid) \($0.gid) \(str($0.path)) \(str($0.pathraw))" }
        #expect(chowns == ["chown 0 0 0 \(D)/b.txt b.txt", "lchown 0 0 0 \(D)/sym sym", "chown -2 0 0 \(D)/missing missing"])
        let fchowns = try got.of(pid: pid, types: [.fchown]).map { try FchownEvent($0) }
            .map { "\($0.res) \($0.fd) \($0.uid) \($0.gid) \(str($0.fdpath))" }
        #expect(fchowns == ["0 \(fd) 4294967295 0 \(D)/b.txt"])
        let fchownats = try got.of(pid: pid, types: [.fchownat]).map { try FchownatEvent($0) }
            .map { "\($0.res) \($0.dirfd) \($0.uid) \($0.gid) \($0.flags) \(str($0.pathname)) \(str($0.pathnameraw))" }
        #expect(fchownats == ["0 \(dfd) 0 0 \(K.AT_SYMLINK_NOFOLLOW) \(D)/sub/sym2 sym2"])

        let unlinks = try got.of(pid: pid, types: [.unlink, .rmdir]).map { try UnlinkEvent($0) }
            .map { "\($0.type.name) \($0.res) \(str($0.path)) \(str($0.pathraw))" }
        #expect(unlinks == ["unlink 0 \(D)/hard hard", "rmdir 0 \(D)/d1 d1", "unlink -2 \(D)/missing sub/../missing",
                            "rmdir -39 \(D)/sub sub"], "the file is gone after the call: parent + last component")
        let unlinkats = try got.of(pid: pid, types: [.unlinkat]).map { try UnlinkatEvent($0) }
            .map { "\($0.res) \($0.dirfd) \($0.flags) \(str($0.name)) \(str($0.nameraw))" }
        #expect(unlinkats == ["0 \(dfd) 0 \(D)/sub/hard2 hard2", "0 \(dfd) \(K.AT_REMOVEDIR) \(D)/sub/d2 d2"])
        #expect(probe.counters().dropped == 0)
    }

    @Test func mountsNamespacesAndChroot() throws {
        let dir = makeFixtureDir("mounts")
        defer { removeTree(dir) }
        let (_, pid, kv, got) = try Self.runWorkload(["mounts", dir], output: dir + "/out.txt")
        let child = try #require(try got.of(pid: pid, types: [.clone]).map { try CloneEvent($0) }.first).childPid
        let D = dir

        let unshares = try got.of(pid: child, types: [.unshare]).map { try UnshareEvent($0) }.map { "\($0.res) \($0.flags)" }
        #expect(unshares == ["0 \(K.CLONE_NEWNS)"])
        let mounts = try got.of(pid: child, types: [.mount]).map { try MountEvent($0) }
            .map { "\($0.res) \($0.flags) [\(str($0.dev))] \(str($0.dir)) \(str($0.dirraw)) [\(str($0.typeArg))]" }
        #expect(mounts == ["0 \(K.MS_REC | K.MS_PRIVATE) [] / / []", "0 \(K.MS_NOSUID | K.MS_NODEV) [lanner-tmp] \(D)/mnt mnt [tmpfs]"])
        let umounts = try got.of(pid: child, types: [.umount2]).map { try Umount2Event($0) }
            .map { "\($0.res) \($0.flags) \(str($0.name)) \(str($0.nameraw))" }
        #expect(umounts == ["0 0 \(D)/mnt mnt/", "-22 \(K.MNT_DETACH) \(D)/mnt mnt"])
        let setns = try got.of(pid: child, types: [.setns]).map { try SetnsEvent($0) }.map { "\($0.res) \($0.nstype) \(str($0.fdpath))" }
        #expect(setns == ["0 \(K.CLONE_NEWNS) mnt:[\(kv["mntns-ino"] ?? "?")]"], "a namespace file is named as /proc/PID/ns shows it")
        let chroots = try got.of(pid: child, types: [.chroot]).map { try ChrootEvent($0) }
            .map { "\($0.res) \(str($0.path)) \(str($0.pathraw))" }
        #expect(chroots == ["-2 \(D)/nope nope", "0 \(D)/sub mnt/..//sub"], "the new root, read back from the task")
    }

    @Test func fdSyscallsCarryTheFilesTheyUse() throws {
        let dir = makeFixtureDir("fds")
        defer { removeTree(dir) }
        let (probe, pid, kv, got) = try Self.runWorkload(["fds", dir], output: dir + "/out.txt")
        let f = dir + "/f"
        // only what follows the open of DIR/f (the dynamic loader reads, maps and closes files before main)
        let open = try #require(try got.of(pid: pid, types: [.openat]).map { try OpenEvent($0) }.first { str($0.name) == f })
        let fd = Int32(open.res)
        #expect(String(fd) == kv["fd"])
        let after = Drained(records: got.records.filter { $0.ts > open.ts })

        let rw = try after.of(pid: pid, types: [.read, .write, .readv, .writev]).map { try ReadEvent($0) }
            .filter { $0.fd == fd || $0.fd == 9999 }.map { "\($0.type.name) \($0.res) \($0.fd) \($0.size)" }
        #expect(rw == ["write 5 \(fd) 5", "writev 7 \(fd) 7", "read 12 \(fd) 100", "readv 5 \(fd) 5", "read -9 9999 1"])
        let prw = try after.of(pid: pid, types: [.pread64, .pwrite64]).map { try Pread64Event($0) }
            .map { "\($0.type.name) \($0.res) \($0.fd) \($0.size) \($0.pos)" }
        #expect(prw == ["pwrite64 2 \(fd) 2 10", "pread64 4 \(fd) 4 1"])

        let dups = try after.of(pid: pid, types: [.dup, .dup2, .dup3]).map { try DupEvent($0) }
            .map { "\($0.type.name) \($0.res) \($0.oldfd) \($0.newfd) \($0.flags) \(str($0.fdpath))" }
        #expect(dups == ["dup \(fd + 1) \(fd) -1 0 \(f)", "dup2 100 \(fd) 100 0 \(f)", "dup3 101 \(fd) 101 \(K.O_CLOEXEC) \(f)",
                         "dup -9 9999 -1 0 "])
        let closes = try after.of(pid: pid, types: [.close]).map { try CloseEvent($0) }.map { "\($0.res) \($0.fd) \(str($0.fdpath))" }
        #expect(closes.prefix(2) == ["0 100 \(f)", "-9 9999 "], "the path is taken at entry: gone by the exit")
        #expect(closes.contains("0 \(fd) \(f)"))

        let pipe = (kv["pipe"] ?? "").split(separator: ","), pipe2 = (kv["pipe2"] ?? "").split(separator: ",")
        try #require(pipe.count == 3 && pipe2.count == 3)
        let pipes = try after.of(pid: pid, types: [.pipe, .pipe2]).map { try PipeEvent($0) }
            .map { "\($0.type.name) \($0.res) \($0.fd1) \($0.fd2) \($0.ino) \($0.flags)" }
        #expect(pipes == ["pipe 0 \(pipe[0]) \(pipe[1]) \(pipe[2]) 0", "pipe2 0 \(pipe2[0]) \(pipe2[1]) \(pipe2[2]) \(K.O_CLOEXEC)"])
        let splices = try after.of(pid: pid, types: [.splice]).map { try SpliceEvent($0) }
            .map { "\($0.res) \($0.fdIn) \($0.fdOut) \($0.size) \($0.flags)" }
        #expect(splices == ["3 \(pipe[0]) \(pipe2[1]) 3 \(K.SPLICE_F_NONBLOCK)"])
        let ioctls = try after.of(pid: pid, types: [.ioctl]).map { try IoctlEvent($0) }.filter { $0.request == UInt64(K.FIONREAD) }
            .map { "\($0.res) \($0.fd) \(str($0.fdpath))" }
        #expect(ioctls == ["0 \(fd) \(f)", "0 \(pipe2[0]) pipe:[\(pipe2[2])]"])

        let maps = try after.of(pid: pid, types: [.mmap]).map { try MmapEvent($0) }
        let anon = try #require(UInt64(kv["anon"] ?? ""))
        #expect(maps.map { "\($0.length) \($0.prot) \($0.flags) \($0.fd) \(str($0.fdpath))" } == [
            "4096 \(K.PROT_READ) \(K.MAP_PRIVATE) \(fd) \(f)",
            "8192 \(K.PROT_READ) \(K.MAP_PRIVATE | K.MAP_ANONYMOUS) -1 ",
            "4096 \(K.PROT_READ) \(K.MAP_PRIVATE) 9999 ",
            "4096 \(K.PROT_READ | K.PROT_EXEC) \(K.MAP_SHARED) \(kv["memfd"] ?? "?") memfd:lanner-m",
        ])
        #expect(maps.count == 4 && maps[0].res > 0 && UInt64(maps[1].res) == anon && maps[2].res == -9)
        let mprotects = try after.of(pid: pid, types: [.mprotect]).map { try MprotectEvent($0) }
            .map { "\($0.res) \($0.addr) \($0.length) \($0.prot)" }
        #expect(mprotects == ["0 \(anon) 4096 \(K.PROT_READ | K.PROT_WRITE)"])
        let memfds = try after.of(pid: pid, types: [.memfdCreate]).map { try MemfdCreateEvent($0) }
            .map { "\($0.res) \($0.flags) \(str($0.name))" }
        #expect(memfds == ["\(kv["memfd"] ?? "?") \(K.MFD_CLOEXEC) lanner-m"])
        let uffd = try after.of(pid: pid, types: [.userfaultfd]).map { try UserfaultfdEvent($0) }.map { "\($0.res) \($0.flags)" }
        #expect(uffd == ["\(kv["userfaultfd"] ?? "?") \(K.O_CLOEXEC | K.O_NONBLOCK)"])
        #expect(probe.counters().dropped == 0)
    }

    @Test func socketsCarryBothEndsForEveryFamily() throws {
        let dir = makeFixtureDir("net")
        defer { removeTree(dir) }
        let (probe, pid, kv, got) = try Self.runWorkload(["net", dir], output: dir + "/out.txt")
        let tcp = (kv["tcp"] ?? "").split(separator: ",").compactMap { Int($0) }
        let udp = (kv["udp"] ?? "").split(separator: ",").compactMap { Int($0) }
        try #require(tcp.count == 5 && udp.count == 2)
        let (port, cport, c2port, afd, a2fd) = (tcp[0], tcp[1], tcp[2], tcp[3], tcp[4])
        let sock = dir + "/u.sock"
        func ends(_ family: UInt16, _ socktype: UInt16, _ sport: UInt16, _ saddr: ArraySlice<UInt8>, _ dport: UInt16,
                  _ daddr: ArraySlice<UInt8>) -> String {
            switch family {
            case 2: return "inet \(socktype) \(ipv4(saddr)):\(sport)->\(ipv4(daddr)):\(dport)"
            case 10: return "inet6 \(socktype) [\(saddr.map { String($0) }.joined(separator: "."))]:\(sport)->[\(daddr.map { String($0) }.joined(separator: "."))]:\(dport)"
            default: return "family\(family) \(socktype)"
            }
        }
        let lo6 = (Array(repeating: "0", count: 15) + ["1"]).joined(separator: ".")

        let sockets = try got.of(pid: pid, types: [.socket]).map { try SocketEvent($0) }
        #expect(sockets.first.map { "\($0.domain) \($0.typeArg) \($0.proto)" } == "\(K.AF_INET) \(K.SOCK_STREAM | K.SOCK_CLOEXEC) 0")
        #expect(sockets.allSatisfy { $0.res >= 3 })

        let binds = try got.of(pid: pid, types: [.bind]).map { try ConnectEvent($0) }
            .map { "\($0.res) \(ends($0.family, $0.socktype, $0.sport, $0.saddr, $0.dport, $0.daddr)) [\(str($0.path))]" }
        #expect(binds == [
            "0 inet 1 127.0.0.1:\(port)->0.0.0.0:0 []",
            "-98 inet 1 127.0.0.1:\(port)->0.0.0.0:0 []",
            "0 inet 2 127.0.0.1:\(udp[0])->0.0.0.0:0 []",
            "0 inet 2 127.0.0.1:\(udp[1])->0.0.0.0:0 []",
        ] + (kv["udp6"] == "none" ? [] : [Int](0..<2).map { i in
            "0 inet6 2 [\(lo6)]:\((kv["udp6"] ?? "").split(separator: ",")[i])->[\(Array(repeating: "0", count: 16).joined(separator: "."))]:0 []"
        }) + ["0 family1 1 [\(sock)]", "0 family1 2 [@lanner-abs]"], "a bound port 0 shows the one assigned")

        let listens = try got.of(pid: pid, types: [.listen]).map { try ListenEvent($0) }
            .map { "\($0.res) \($0.backlog) \($0.family) \($0.socktype) \(ipv4($0.saddr)):\($0.sport) [\(str($0.path))]" }
        #expect(listens == ["0 5 2 1 127.0.0.1:\(port) []", "0 3 1 1 0.0.0.0:0 [\(sock)]"])

        let accepts = try got.of(pid: pid, types: [.accept, .accept4]).map { try AcceptEvent($0) }
        #expect(accepts.map { "\($0.type.name) \($0.res) \(ends($0.family, $0.socktype, $0.sport, $0.saddr, $0.dport, $0.daddr)) \($0.queuelen)/\($0.queuemax) \($0.queuepct) \($0.flags) [\(str($0.path))]" } == [
            "accept \(afd) inet 1 127.0.0.1:\(port)->127.0.0.1:\(cport) 0/5 0 0 []",
            "accept4 \(a2fd) inet 1 127.0.0.1:\(port)->127.0.0.1:\(c2port) 0/5 0 \(K.SOCK_CLOEXEC) []",
            "accept \(accepts.last?.res ?? 0) family1 1 0/3 0 0 [\(sock)]",
        ], "sport/saddr the server end, dport/daddr the client")

        let io = try got.of(pid: pid, types: [.sendto, .sendmsg, .recvfrom, .recvmsg]).map { try SendtoEvent($0) }
            .map { "\($0.type.name) \($0.res) \($0.size) \(ends($0.family, $0.socktype, $0.sport, $0.saddr, $0.dport, $0.daddr)) [\(str($0.path))]" }
        let udp6 = (kv["udp6"] ?? "").split(separator: ",")
        #expect(io == [
            "sendto 4 4 inet 1 127.0.0.1:\(cport)->127.0.0.1:\(port) []",
            "recvfrom 4 16 inet 1 127.0.0.1:\(port)->127.0.0.1:\(cport) []",
            "sendmsg 5 5 inet 1 127.0.0.1:\(cport)->127.0.0.1:\(port) []",
            "recvmsg 5 100 inet 1 127.0.0.1:\(port)->127.0.0.1:\(cport) []",
            "sendto 1 1 inet 2 127.0.0.1:\(udp[1])->127.0.0.1:\(udp[0]) []",
            "recvfrom 1 16 inet 2 127.0.0.1:\(udp[0])->127.0.0.1:\(udp[1]) []",
        ] + (udp6.count == 2 ? [
            "sendmsg 3 3 inet6 2 [\(lo6)]:\(udp6[1])->[\(lo6)]:\(udp6[0]) []",
            "recvmsg 3 64 inet6 2 [\(lo6)]:\(udp6[0])->[\(lo6)]:\(udp6[1]) []",
        ] : []) + [
            "sendto 1 1 family1 1 [\(sock)]",
            "sendto 1 1 family1 2 [@lanner-abs]",
        ], "remote end: the address passed or written back, else the peer")

        let pairs = try got.of(pid: pid, types: [.socketpair]).map { try SocketpairEvent($0) }
            .map { "\($0.res) \($0.fd1),\($0.fd2) \($0.domain) \($0.typeArg) \($0.proto)" }
        #expect(pairs == ["0 \(kv["socketpair"] ?? "?") \(K.AF_UNIX) \(K.SOCK_STREAM) 0"])
        #expect(probe.counters().dropped == 0)
    }

    @Test func credentialsSignalsTracingAndModules() throws {
        let out = "/tmp/lanner-creds.\(getpid()).txt"
        defer { unlink(out) }
        let (probe, _, kv, got) = try Self.runWorkload(["creds"], output: out)
        let child = try #require(UInt32(kv["child"] ?? ""))
        let victim = try #require(Int32(kv["victim"] ?? ""))

        func creds(_ r: UInt32, _ e: UInt32, _ s: UInt32, _ rg: UInt32, _ eg: UInt32, _ sg: UInt32) -> String { "\(r)/\(e)/\(s) \(rg)/\(eg)/\(sg)" }
        let g = try got.of(pid: child, types: [.setgid]).map { try SetgidEvent($0) }
            .map { "\($0.res) \($0.gid) \(creds($0.credRuid, $0.credEuid, $0.credSuid, $0.credRgid, $0.credEgid, $0.credSgid))" }
        #expect(g == ["0 2000 0/0/0 2000/2000/2000"])
        let rg = try got.of(pid: child, types: [.setregid]).map { try SetregidEvent($0) }
            .map { "\($0.res) \($0.rgid) \($0.egid) \(creds($0.credRuid, $0.credEuid, $0.credSuid, $0.credRgid, $0.credEgid, $0.credSgid))" }
        #expect(rg == ["0 3000 3001 0/0/0 3000/3001/3001"])
        let rsg = try got.of(pid: child, types: [.setresgid]).map { try SetresgidEvent($0) }
            .map { "\($0.res) \($0.rgid) \($0.egid) \($0.sgid) \(creds($0.credRuid, $0.credEuid, $0.credSuid, $0.credRgid, $0.credEgid, $0.credSgid))" }
        #expect(rsg == ["0 4000 4001 4002 0/0/0 4000/4001/4002"])
        let rsu = try got.of(pid: child, types: [.setresuid]).map { try SetresuidEvent($0) }
            .map { "\($0.res) \($0.ruid) \($0.euid) \($0.suid) \(creds($0.credRuid, $0.credEuid, $0.credSuid, $0.credRgid, $0.credEgid, $0.credSgid))" }
        #expect(rsu == ["0 2000 2001 2002 2000/2001/2002 4000/4001/4002"])
        let ru = try got.of(pid: child, types: [.setreuid]).map { try SetreuidEvent($0) }
            .map { "\($0.res) \($0.ruid) \($0.euid) \(creds($0.credRuid, $0.credEuid, $0.credSuid, $0.credRgid, $0.credEgid, $0.credSgid))" }
        #expect(ru == ["0 2001 2000 2001/2000/2000 4000/4001/4002"])
        let u = try got.of(pid: child, types: [.setuid]).map { try SetuidEvent($0) }
            .map { "\($0.res) \($0.uid) \(creds($0.credRuid, $0.credEuid, $0.credSuid, $0.credRgid, $0.credEgid, $0.credSgid))" }
        #expect(u == ["-1 3000 2001/2000/2000 4000/4001/4002", "0 2001 2001/2001/2000 4000/4001/4002"], "EPERM once root is gone")

        let mine = try #require(ProcSnapshot.event(pid: UInt32(getpid())))
        let caps = try got.of(pid: child, types: [.capset]).map { try CapsetEvent($0) }
        #expect(caps.map { "\($0.res) \($0.capInheritable) \($0.capPermitted) \($0.capEffective)" }
                == ["0 0 \(mine.capPermitted) \(mine.capPermitted & ~(UInt64(1) << 16))"], "CAP_SYS_MODULE dropped from the effective set")

        let prctls = try got.of(pid: child, types: [.prctl]).map { try PrctlEvent($0) }.map { "\($0.res) \($0.option) [\(str($0.arg2Str))]" }
        #expect(prctls == ["0 \(K.PR_SET_NAME) [lanner-renamed]", "0 \(K.PR_GET_NAME) [lanner-renamed]"])
        let ptraces = try got.of(pid: child, types: [.ptrace]).map { try PtraceEvent($0) }
            .map { "\($0.res) \($0.request) \($0.pidArg) \($0.addr)" }
        #expect(ptraces == ["0 \(K.PTRACE_ATTACH) \(victim) 0", "0 \(K.PTRACE_DETACH) \(victim) 0",
                            "-3 \(K.PTRACE_PEEKDATA) 999999 4096"])
        let kills = try got.of(pid: child, types: [.kill]).map { try KillEvent($0) }.map { "\($0.res) \($0.pidArg) \($0.sig)" }
        #expect(kills == ["0 \(victim) 9", "-3 999999 0"])
        let unshares = try got.of(pid: child, types: [.unshare]).map { try UnshareEvent($0) }.map { "\($0.res) \($0.flags)" }
        #expect(unshares == ["0 \(K.CLONE_NEWUTS)"])
        let bpfs = try got.of(pid: child, types: [.bpf]).map { try BpfEvent($0) }
        #expect(bpfs.map(\.cmd) == [5] && bpfs.allSatisfy { $0.res < 0 })

        // A kernel without modules (no /proc/modules) refuses both with ENOSYS and has no tracepoint for them:
        // the raw_tracepoint stand-in reports them.
        let noModules = access("/proc/modules", F_OK) != 0
        let inits = try got.of(pid: child, types: [.initModule]).map { try InitModuleEvent($0) }
        #expect(inits.map { "\($0.length) \(str($0.uargs))" } == ["16 lanner=1"])
        #expect(inits.allSatisfy { noModules ? $0.res == -38 : $0.res < 0 })
        let finits = try got.of(pid: child, types: [.finitModule]).map { try FinitModuleEvent($0) }
        #expect(finits.map { "\($0.flags) \(str($0.uargs)) \(str($0.fdpath))" } == ["0 lanner=2 \(realPath("/bin/true"))"])
        #expect(finits.allSatisfy { noModules ? $0.res == -38 : $0.res < 0 })
        #expect(probe.counters().dropped == 0)
    }

    /// exe_flags bit 4: the file an exec runs was opened for writing by the process itself or its parent.
    @Test func execOfAFileTheProcessWroteIsFlagged() throws {
        let dir = makeTempDir("wexec")
        defer { removeTree(dir) }
        let (_, pid, kv, got) = try Self.runWorkload(["write-exec", dir], output: dir + "/out.txt", interest: SensorEnv.coreEvents)
        let child = try #require(UInt32(kv["child"] ?? ""))
        let own = try got.of(pid: pid, types: [.execve]).map { try ExecveEvent($0) }
        try #require(own.count == 2)
        #expect(str(own[0].exe) == SensorEnv.workload && own[0].exeFlags & 16 == 0, "built by make, not by the test")
        #expect(str(own[1].exe) == dir + "/t" && own[1].exeFlags & 16 != 0, "the process wrote what it runs")
        let kid = try #require(try got.of(pid: child, types: [.execve]).map { try ExecveEvent($0) }.first)
        #expect(str(kid.exe) == dir + "/t" && kid.exeFlags & 16 != 0, "its parent wrote what it runs")
        #expect(kid.exeFlags & 4 != 0 && access(dir + "/t", W_OK) == 0, "writable by root")
    }

    static func isHostnameOpen(_ r: EventRecord) -> Bool {
        (try? OpenEvent(r)).map { str($0.nameraw) == "/etc/hostname" } ?? false
    }

    // MARK: - interest: which programs are attached

    @Test func interestAttachesOnlyWhatIsWanted() throws {
        let probe = try SensorEnv.probe(interest: [])
        let lifecycle = ["lanner_sched_exec", "lanner_sched_exit", "lanner_sched_fork"]
        #expect(probe.programNames.sorted() == lifecycle, "no syscall event wanted: no syscall tracepoint at all")
        // every kernel event has a program of its own, or the stand-in where this kernel lacks the tracepoint
        let loaded = Set(probe.loadedProgramNames)
        let lifecycleTypes: Set<EventType> = [.procexit]   // from sched_process_exit alone
        for t in EventType.allCases where t.fromKernel && !lifecycleTypes.contains(t) {
            #expect(loaded.contains("lanner_exit_\(t.name)") || (probe.unavailableEvents.isEmpty
                    && loaded.contains("lanner_raw_init_module__finit_module") && [.initModule, .finitModule].contains(t)),
                    "no program for \(t.name)")
        }
        try probe.setInterest([EventType.clone.rawValue, EventType.procexit.rawValue])
        #expect(probe.programNames.sorted() == (lifecycle + ["lanner_exit_clone"]).sorted(), "clone's exit hook reports its failures")
        try probe.setInterest([EventType.unlink.rawValue])
        #expect(probe.programNames.sorted() == (lifecycle + ["lanner_exit_unlink"]).sorted())
        try probe.setInterest([EventType.close.rawValue, EventType.unlink.rawValue])
        let close = probe.programNames.filter { $0.hasSuffix("_close") }
        #expect(close == ["lanner_exit_close", "lanner_enter_close"], "the exit hook first: it finishes what the entry starts")
        try probe.setInterest(Set([EventType.execve.rawValue]))
        #expect(probe.programNames.sorted() == (lifecycle + ["lanner_enter_execveat", "lanner_exit_execve", "lanner_exit_execveat"]).sorted(),
                "execveat's hooks also label successful execs")
        try probe.setInterest([EventType.read.rawValue])
        #expect(probe.programNames.sorted() == (lifecycle + ["lanner_exit_read"]).sorted(), "read alone attaches read alone")
        try probe.setInterest([EventType.initModule.rawValue])
        if access("/sys/kernel/tracing/events/syscalls/sys_exit_init_module", F_OK) != 0 {
            #expect(probe.programNames.contains("lanner_raw_init_module__finit_module"), "the stand-in for a missing tracepoint")
        } else {
            #expect(probe.programNames.contains("lanner_exit_init_module"))
        }
        #expect(probe.unavailableEvents.isEmpty)
        try probe.setInterest(SensorEnv.allKernelEvents)
        let fallbackNeeded = access("/sys/kernel/tracing/events/syscalls/sys_exit_init_module", F_OK) != 0
        #expect(Set(probe.programNames) == loaded.subtracting(fallbackNeeded ? [] : ["lanner_raw_init_module__finit_module"]),
                "everything wanted: every program this kernel needs")
        try probe.setInterest([])
        #expect(probe.programNames.sorted() == lifecycle)
        #expect(probe.interest.isEmpty)
    }

    /// Narrowing every type to a dozen (what a sensor does at a collector's first answer) held the caller ~5 s: each
    /// detached link waits in the kernel for an RCU grace period, one at a time, and the sensor's capture thread did not
    /// drain the ring meanwhile. Links are closed in the background now; a program wanted again before its link went
    /// gets that link back, so a record never comes twice.
    @Test func narrowingDoesNotWaitForTheKernelToLetGo() throws {
        let dir = makeFixtureDir("narrow")
        defer { removeTree(dir) }
        let probe = try SensorEnv.probe(interest: SensorEnv.allKernelEvents)
        let all = probe.programNames.count
        let start = ProcessInfo.processInfo.systemUptime
        try probe.setInterest(SensorEnv.coreEvents)
        let took = ProcessInfo.processInfo.systemUptime - start
        #expect(took < 1, "narrowing from \(all) programs to \(probe.programNames.count) took \(took) s")
        #expect(probe.programNames.count < all / 2)
        // unlink and mkdir wanted again at once: one record per call, whether their links were reused or attached anew
        try probe.setInterest(SensorEnv.coreEvents.union([EventType.unlink.rawValue, EventType.mkdir.rawValue]))
        _ = try drain(probe)
        let w = spawn(SensorEnv.workload, ["lanner-workload", "files", dir])
        #expect(wait(w.pid) == 0)
        let got = try drain(probe)
        #expect(got.of(pid: UInt32(w.pid), types: [.unlink]).count == 2)
        #expect(got.of(pid: UInt32(w.pid), types: [.mkdir]).count == 2)
        #expect(got.of(pid: UInt32(w.pid), types: [.close, .rename]).isEmpty, "detached types are switched off at once")
        // The kernel lets go of every retired link in the background.
        let deadline = ProcessInfo.processInfo.systemUptime + 60
        while probe.detachesPending > 0 && ProcessInfo.processInfo.systemUptime < deadline { usleep(50_000) }
        #expect(probe.detachesPending == 0)
    }

    /// A type switched off produces nothing, back on it flows again, and a type that stays wanted loses
    /// nothing while others are attached and detached around it.
    @Test func switchingTypesLiveLosesNothingElse() throws {
        let dir = makeFixtureDir("toggle")
        defer { removeTree(dir) }
        let probe = try SensorEnv.probe(interest: SensorEnv.coreEvents.union([EventType.unlink.rawValue, EventType.mkdir.rawValue]))
        _ = try drain(probe)
        // unlink off: the files scenario's unlinks vanish, its mkdirs stay
        try probe.setInterest(SensorEnv.coreEvents.union([EventType.mkdir.rawValue]))
        let w1 = spawn(SensorEnv.workload, ["lanner-workload", "files", dir])
        #expect(wait(w1.pid) == 0)
        let off = try drain(probe)
        #expect(off.of(pid: UInt32(w1.pid), types: [.unlink]).isEmpty)
        #expect(off.of(pid: UInt32(w1.pid), types: [.mkdir]).count == 2)
        #expect(!off.of(pid: UInt32(w1.pid), types: [.openat, .execve]).isEmpty)

        // back on
        removeTree(dir)
        _ = makeFixtureDirAt(dir)
        try probe.setInterest(SensorEnv.coreEvents.union([EventType.unlink.rawValue, EventType.mkdir.rawValue]))
        let w2 = spawn(SensorEnv.workload, ["lanner-workload", "files", dir])
        #expect(wait(w2.pid) == 0)
        let on = try drain(probe)
        #expect(on.of(pid: UInt32(w2.pid), types: [.unlink]).count == 2)

        // An open loop runs while other types are attached and detached: every open arrives. It pauses after
        // every 100 opens; when it ended before two switches (attaching and detaching wait for RCU grace
        // periods, slow on a busy machine) it runs again with longer pauses.
        let before = probe.counters()
        let n = 20000
        var seen: [EventRecord] = []
        var toggles = 0
        var status: Int32 = 0
        for pauseUs in [2_000, 8_000, 32_000, 128_000] {
            let w3 = spawn(SensorEnv.workload, ["lanner-workload", "openloop", String(n), String(pauseUs)])
            seen = []
            toggles = 0
            while true {
                try probe.setInterest(SensorEnv.coreEvents.union(toggles % 2 == 0 ? [EventType.close.rawValue, EventType.read.rawValue] : []))
                toggles += 1
                seen += try drain(probe, within: 0.05).of(pid: UInt32(w3.pid), types: [.openat]).filter(Self.isHostnameOpen)
                if waitpid(w3.pid, &status, WNOHANG) == w3.pid { break }
            }
            seen += try drain(probe).of(pid: UInt32(w3.pid), types: [.openat]).filter(Self.isHostnameOpen)
            #expect(status == 0)
            #expect(seen.count == n, "opens while close/read hooks came and went: \(seen.count) of \(n), \(toggles) switches")
            if toggles >= 2 { break }
        }
        #expect(toggles >= 2, "the loop outlived at least one switch")
        let after = probe.counters()
        #expect(after.dropped == before.dropped)
    }
}

/// Linux constants the tests compare with, spelled out (Glibc imports few of them into Swift).
enum K {
    static let AT_EMPTY_PATH = 0x1000
    static let AT_SYMLINK_NOFOLLOW = 0x100
    static let AT_REMOVEDIR = 0x200
    static let CLONE_NEWNS = 0x20000
    static let CLONE_NEWUTS = 0x0400_0000
    static let SPLICE_F_NONBLOCK = 2
    static let MFD_CLOEXEC = 1
    static let PR_SET_NAME = 15
    static let PR_GET_NAME = 16
    static let MS_REC = 16384
    static let MS_PRIVATE = 1 << 18
    static let MS_NOSUID = 2
    static let MS_NODEV = 4
    static let MNT_DETACH = 2
    static let O_CLOEXEC = 0o2000000
    static let O_NONBLOCK = 0o4000
    static let PROT_READ = 1
    static let PROT_WRITE = 2
    static let PROT_EXEC = 4
    static let MAP_PRIVATE = 2
    static let MAP_SHARED = 1
    static let MAP_ANONYMOUS = 0x20
    static let FIONREAD = 0x541B
    static let PTRACE_ATTACH = 16
    static let PTRACE_DETACH = 17
    static let PTRACE_PEEKDATA = 2
    static let SOCK_CLOEXEC = 0o2000000
    static let SOCK_STREAM = 1
    static let AF_INET = 2
    static let AF_UNIX = 1
}
