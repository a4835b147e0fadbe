import LannerWire

/// Builds real wire records for tests, through the generated encoders.
public enum Rec {
    public static func b(_ s: String) -> ArraySlice<UInt8> { ArraySlice(s.utf8) }

    public static func argv(_ a: [String]) -> ArraySlice<UInt8> { ArraySlice(a.flatMap { Array($0.utf8) + [0] }) }

    public static func exec(_ type: EventType = .execve, pid: UInt32, ppid: UInt32, comm: String, exe: String, args: [String],
                     cwd: String = "/root", uid: UInt32 = 0, loginuid: UInt32 = UInt32.max, tty: UInt32 = 0,
                     cgroup: String = "/user.slice", ts: UInt64 = 1000, res: Int64 = 0, exeFlags: UInt32 = 0,
                     caps: UInt64 = 0x1ff) -> [UInt8] {
        let e = ExecveEvent(type: type, pid: pid, tid: pid, ts: ts, res: res, ppid: ppid, uid: uid, gid: uid, euid: uid,
                            loginuid: loginuid, vpid: pid, sid: pid, pgid: pid, tty: tty, capEffective: caps, capPermitted: caps,
                            startNs: ts, exeFlags: exeFlags, comm: b(comm), exe: b(exe), filename: b(exe), args: argv(args),
                            cwd: b(cwd), cgroup: b(cgroup))
        var w = ByteWriter()
        try! e.encode(into: &w)
        return w.bytes
    }

    /// A clone that made `child`, or with `res` (-errno) one that failed (no child, as the sensor reports it).
    public static func clone(parent: UInt32, child: UInt32, thread: Bool = false, comm: String = "", ts: UInt64 = 1000,
                             res: Int64? = nil) -> [UInt8] {
        var w = ByteWriter()
        try! CloneEvent(pid: parent, tid: parent, ts: ts, res: res ?? Int64(child), childPid: res == nil ? (thread ? parent : child) : 0,
                        flags: thread ? 1 : 0, comm: b(comm)).encode(into: &w)
        return w.bytes
    }

    public static func exit(pid: UInt32, tid: UInt32? = nil, group: Bool = true, ts: UInt64 = 2000) -> [UInt8] {
        var w = ByteWriter()
        try! ProcexitEvent(pid: pid, tid: tid ?? pid, ts: ts, status: 0, flags: group ? 1 : 0).encode(into: &w)
        return w.bytes
    }

    public static func open(_ type: EventType = .openat, pid: UInt32, name: String, raw: String? = nil, flags: UInt32 = 0,
                     res: Int64 = 3, ts: UInt64 = 1500) -> [UInt8] {
        var w = ByteWriter()
        try! OpenEvent(type: type, pid: pid, tid: pid, ts: ts, res: res, flags: flags, mode: 0, dirfd: -100, dev: 1, ino: 2,
                       name: b(name), nameraw: b(raw ?? name)).encode(into: &w)
        return w.bytes
    }

    public static func connect(pid: UInt32, sport: UInt16, dport: UInt16, res: Int64 = 0, daddr: [UInt8] = [127, 0, 0, 1],
                               saddr: [UInt8] = [127, 0, 0, 1]) -> [UInt8] {
        var w = ByteWriter()
        let pad = [UInt8](repeating: 0, count: 12)
        try! ConnectEvent(pid: pid, tid: pid, ts: 1600, res: res, fd: 5, family: 2, socktype: 1, sport: sport, dport: dport,
                          saddr: ArraySlice(saddr + pad), daddr: ArraySlice(daddr + pad), path: []).encode(into: &w)
        return w.bytes
    }

    public static func user(uid: UInt32, name: String) -> [UInt8] {
        var w = ByteWriter()
        try! UserinfoEvent(pid: 0, tid: 0, ts: 0, uid: uid, gid: uid, name: b(name), home: b("/home/" + name), shell: b("/bin/bash")).encode(into: &w)
        return w.bytes
    }

    /// A CONTAINERINFO record (the sensor's description of a container); `removed` makes it a removal.
    /// `mounts` are (source, destination, rw); `labels` go out sorted by key, as the sensor sends them.
    public static func container(id: String, name: String = "web-1", image: String = "localhost/bbox:latest",
                                 imageID: String = "8da6e0e5fc45", runtime: String = "podman", privileged: Bool = false,
                                 mounts: [(String, String, Bool)] = [], labels: [String: String] = [:],
                                 startedNs: UInt64 = 1_796_000_000_500_000_000, marathonAppID: String = "", removed: Bool = false,
                                 ts: UInt64 = 900) -> [UInt8] {
        var labelBytes: [UInt8] = []
        for (k, v) in labels.sorted(by: { $0.key < $1.key }) { labelBytes += Array(k.utf8) + [0] + Array(v.utf8) + [0] }
        var mountBytes: [UInt8] = []
        for m in mounts {
            for part in [m.0, m.1, m.2 ? "" : "ro", m.2 ? "true" : "false", "rprivate"] { mountBytes += Array(part.utf8) + [0] }
        }
        let e = removed
            ? ContainerinfoEvent(pid: 0, tid: 0, ts: ts, flags: 16, id: b(id))
            : ContainerinfoEvent(pid: 0, tid: 0, ts: ts, flags: privileged ? 1 : 0, startedNs: startedNs, id: b(id), name: b(name),
                                 image: b(image), imageId: b(imageID), runtime: b(runtime), labels: ArraySlice(labelBytes),
                                 mounts: ArraySlice(mountBytes), marathonAppId: b(marathonAppID))
        var w = ByteWriter()
        try! e.encode(into: &w)
        return w.bytes
    }

    /// A batch of these records.
    public static func batch(_ records: [[UInt8]], seq: UInt64 = 1, host: String = "test-host", readFailures: UInt64 = 0) -> [UInt8] {
        var enc = BatchEncoder()
        for r in records { try! enc.append(record: r) }
        return try! enc.finish(header: BatchHeader(sequence: seq, bootTimeUnixNs: 1_796_000_000_000_000_000, readFailures: readFailures,
                                                   sensorID: ID128(hex: "11111111111111111111111111111111")!,
                                                   bootID: ID128(hex: "22222222222222222222222222222222")!, hostname: host, sensorVersion: "test"))
    }
}
