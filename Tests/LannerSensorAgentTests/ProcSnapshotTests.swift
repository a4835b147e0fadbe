import Foundation
import Glibc
import LannerSensorAgent
import LannerWire
import Testing

@Suite struct ProcSnapshotTests {
    @Test func snapshotCoversProcessesButNotTheSensor() throws {
        let recs = ProcSnapshot.records()
        var enc = BatchEncoder()
        for r in recs { try enc.append(record: r) }
        let batch = try BatchDecoder.decode(try enc.finish(header: BatchHeader(
            sequence: 1, bootTimeUnixNs: 0, sensorID: .zero, bootID: .zero, hostname: "t", sensorVersion: "t")))
        let events = try batch.records.map { try ExecveEvent($0) }
        #expect(events.count == recs.count && events.count > 2)
        #expect(events.allSatisfy { $0.type == .procinfo && $0.res == 0 && $0.pid == $0.tid })
        #expect(!events.contains { $0.pid == UInt32(getpid()) })
        let initProc = try #require(events.first { $0.pid == 1 })
        #expect(initProc.ppid == 0)
        #expect(!initProc.comm.isEmpty)
        #expect(initProc.filename == initProc.exe)
        // kernel threads are kept, with an empty exe
        if let kthreadd = events.first(where: { $0.pid == 2 && str($0.comm) == "kthreadd" }) {
            #expect(kthreadd.exe.isEmpty && kthreadd.args.isEmpty)
        }
    }

    @Test func oneProcessInDetail() throws {
        let child = spawn("/bin/sleep", ["sleep", "5"])
        defer { kill(child.pid, SIGKILL); _ = wait(child.pid) }
        // wait for the exec to have happened
        var e: ExecveEvent?
        for _ in 0..<200 {
            e = ProcSnapshot.event(pid: UInt32(child.pid))
            if let e, str(e.comm) == "sleep", !e.args.isEmpty { break } // comm changes before argv is in place
            usleep(5000)
        }
        let ev = try #require(e)
        let me = try #require(ProcSnapshot.event(pid: UInt32(getpid())))
        #expect(str(ev.comm) == "sleep")
        #expect(str(ev.exe) == realPath("/bin/sleep"))
        #expect(ev.filename == ev.exe)
        #expect(Array(ev.args) == bytes("sleep\u{0}5\u{0}"))
        #expect(ev.ppid == UInt32(getpid()))
        #expect(ev.uid == getuid() && ev.euid == geteuid() && ev.gid == getgid())
        #expect(ev.vpid == UInt32(child.pid))
        #expect(ev.sid == UInt32(getsid(0)) && ev.pgid == UInt32(getpgrp()))
        #expect(str(ev.cwd) == realPath(FileManager.default.currentDirectoryPath))
        #expect(ev.cgroup == me.cgroup)
        #expect(ev.startNs >= me.startNs && ev.startNs <= ev.ts)
        #expect(ev.capEffective == me.capEffective)
    }

    @Test func processThatIsGoneGivesNil() {
        #expect(ProcSnapshot.event(pid: UInt32(Int32.max - 1)) == nil)
    }

    @Test func argvLimitTruncates() throws {
        let child = spawn("/bin/sleep", ["sleep", "5"])
        defer { kill(child.pid, SIGKILL); _ = wait(child.pid) }
        var e: ExecveEvent?
        for _ in 0..<200 {
            e = ProcSnapshot.event(pid: UInt32(child.pid), argvLimit: 4)
            if let e, str(e.comm) == "sleep", !e.args.isEmpty { break } // comm changes before argv is in place
            usleep(5000)
        }
        #expect(e.map { Array($0.args) } == bytes("slee"))
    }

    static let order = ["cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls", "perf_event",
                        "net_prio", "hugetlb", "pids"]

    @Test func cgroupRuleMatchesTheKernelSide() {
        // this host's hybrid layout: only the memory hierarchy places the process
        let hybrid = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n3:cpuset:/\n1:cpu:/\n0::/\n"
        #expect(ProcSnapshot.cgroupPath(procCgroup: bytes(hybrid), controllerOrder: Self.order) == bytes("/process_api/abc"))
        // a container: every line agrees, v2 wins
        let podman = "9:name=systemd:/libpod_parent/libpod-1\n4:memory:/libpod_parent/libpod-1\n0::/libpod_parent/libpod-1\n"
        #expect(ProcSnapshot.cgroupPath(procCgroup: bytes(podman), controllerOrder: Self.order) == bytes("/libpod_parent/libpod-1"))
        // pure v2
        #expect(ProcSnapshot.cgroupPath(procCgroup: bytes("0::/user.slice/a:b\n"), controllerOrder: []) == bytes("/user.slice/a:b"))
        // subsystem id order decides, named hierarchies do not count
        let twoV1 = "9:name=systemd:/sys\n8:pids:/p\n4:memory:/m\n0::/\n"
        #expect(ProcSnapshot.cgroupPath(procCgroup: bytes(twoV1), controllerOrder: Self.order) == bytes("/m"))
        #expect(ProcSnapshot.cgroupPath(procCgroup: bytes("0::/\n"), controllerOrder: Self.order) == bytes("/"))
        #expect(ProcSnapshot.cgroupPath(procCgroup: [], controllerOrder: Self.order) == bytes("/"))
        // comounted controllers
        #expect(ProcSnapshot.cgroupPath(procCgroup: bytes("2:cpu,cpuacct:/c\n0::/\n"), controllerOrder: Self.order) == bytes("/c"))
    }

    @Test func controllerOrderComesFromProcCgroups() {
        let order = ProcSnapshot.controllerOrder()
        #expect(!order.contains("#subsys_name"))
        if FileManager.default.fileExists(atPath: "/proc/cgroups") { #expect(!order.isEmpty) }
    }
}
