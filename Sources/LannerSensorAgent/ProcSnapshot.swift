import CBPF
import Glibc
import LannerWire

/// The processes already running when the sensor starts, as PROCINFO records (the execve layout,
/// res 0, filename = exe), so the collector knows the parents of everything the probe reports later.
///
/// Read from /proc: status (PPid, Uid/Gid real+effective, CapEff/CapPrm, NSpid), loginuid, stat
/// (pgrp, session, tty_nr, starttime), comm, exe, cmdline, cwd and cgroup. Only thread-group leaders;
/// kernel threads are included with an empty exe. A process that exits while it is being read is
/// skipped. Fields follow the kernel side's conventions so both kinds of record compare equal:
/// - exe is the resolved path without " (deleted)"; a memfd is "memfd:NAME" with exe_flags bit 1;
///   bit 2 (exe writable by the process) by the kernel side's rule (`writable`); bits 0 and 3 (overlay
///   layers) and 4 (written by the process or its parent: nothing was watching before the sensor started)
///   are not derived here and stay 0.
/// - tty is /proc's tty_nr (new_encode_dev), as the kernel side encodes it.
/// - cgroup is the cgroup v2 path when not "/", else the first v1 controller hierarchy (in
///   /proc/cgroups order, the kernel's subsystem id order) where the process is not at the root.
/// - start_ns is starttime in clock ticks converted to ns (10 ms resolution at 100 Hz).
public enum ProcSnapshot {
    /// One PROCINFO record per process in /proc.
    /// - Parameters:
    ///   - excludingTgid: a process to leave out (the sensor itself by default); nil keeps all.
    ///   - argvLimit: bytes of cmdline kept, as the kernel side's `argvLimit`.
    ///   - procRoot: the proc mount to read.
    public static func records(excludingTgid: UInt32? = UInt32(getpid()), argvLimit: Int = 4096,
                               procRoot: String = "/proc") -> [[UInt8]] {
        let order = controllerOrder(procRoot: procRoot)
        let ts = ProcFiles.bootNanoseconds()
        var out: [[UInt8]] = []
        for pid in pids(procRoot: procRoot) where pid != excludingTgid {
            guard let e = event(pid: pid, ts: ts, argvLimit: argvLimit, controllerOrder: order, procRoot: procRoot) else {
                continue
            }
            var w = ByteWriter(capacity: 256)
            do { try e.encode(into: &w) } catch { continue } // over 64 KiB: cannot happen with argvLimit < 32 KiB
            out.append(w.bytes)
        }
        return out
    }

    /// The PROCINFO event of one process, or nil when it is gone (or not a process).
    /// - Parameter ts: the record time, ns since boot (now when nil).
    public static func event(pid: UInt32, ts: UInt64? = nil, argvLimit: Int = 4096,
                             controllerOrder: [String]? = nil, procRoot: String = "/proc") -> ExecveEvent? {
        let dir = procRoot + "/\(pid)"
        guard let stat = ProcFiles.read(dir + "/stat"), let status = ProcFiles.read(dir + "/status"),
              let st = parseStat(stat) else { return nil }
        let s = parseStatus(status)
        var e = ExecveEvent(type: .procinfo, pid: pid, tid: pid, ts: ts ?? ProcFiles.bootNanoseconds())
        e.ppid = s.ppid
        e.uid = s.uid
        e.euid = s.euid
        e.gid = s.gid
        e.capEffective = s.capEff
        e.capPermitted = s.capPrm
        e.vpid = s.nsPid ?? pid
        e.loginuid = ProcFiles.read(dir + "/loginuid").flatMap { ProcFiles.int($0) }.map { UInt32(truncatingIfNeeded: $0) }
            ?? UInt32.max
        e.pgid = st.pgrp
        e.sid = st.session
        e.tty = st.ttyNr
        e.startNs = st.startTicks &* (1_000_000_000 / clockTicks)
        e.comm = ArraySlice(st.comm)
        var exe = ProcFiles.readLink(dir + "/exe") ?? []
        exe = normalizeExe(exe)
        if exe.starts(with: Array("memfd:".utf8)) { e.exeFlags |= 2 }
        if !exe.isEmpty, writable(exe: dir + "/exe", status: s) { e.exeFlags |= 4 }
        e.exe = ArraySlice(exe)
        e.filename = ArraySlice(exe)
        let cmdline = ProcFiles.read(dir + "/cmdline", limit: max(argvLimit, 1)) ?? []
        e.args = ArraySlice(cmdline.prefix(argvLimit))
        e.cwd = ArraySlice(ProcFiles.readLink(dir + "/cwd") ?? [])
        let order = controllerOrder ?? Self.controllerOrder(procRoot: procRoot)
        e.cgroup = ArraySlice(ProcFiles.read(dir + "/cgroup").map { cgroupPath(procCgroup: $0, controllerOrder: order) } ?? [])
        return e
    }

    /// Every numeric entry of /proc.
    static func pids(procRoot: String) -> [UInt32] {
        guard let d = opendir(procRoot) else { return [] }
        defer { closedir(d) }
        var out: [UInt32] = []
        while let ent = readdir(d) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw -> UInt32? in
                let bytes = raw.prefix { $0 != 0 }
                guard let v = ProcFiles.int(bytes), v > 0, v <= Int64(UInt32.max) else { return nil }
                return UInt32(v)
            }
            if let name { out.append(name) }
        }
        return out.sorted()
    }

    /// Clock ticks per second of /proc's time fields.
    static let clockTicks: UInt64 = {
        let t = sysconf(Int32(_SC_CLK_TCK))
        return t > 0 ? UInt64(t) : 100
    }()

    /// Drops " (deleted)" and gives a memfd the kernel side's form ("memfd:NAME", no leading slash).
    static func normalizeExe(_ exe: [UInt8]) -> [UInt8] {
        var e = exe
        let deleted = Array(" (deleted)".utf8)
        if e.count >= deleted.count && Array(e.suffix(deleted.count)) == deleted { e.removeLast(deleted.count) }
        if e.starts(with: Array("/memfd:".utf8)) { e.removeFirst() }
        return e
    }

    struct Stat {
        var comm: [UInt8]
        var pgrp: UInt32
        var session: UInt32
        var ttyNr: UInt32
        var startTicks: UInt64
    }

    /// /proc/PID/stat: "pid (comm) state ppid pgrp session tty_nr tpgid flags ... starttime(22) ...".
    /// The comm may itself hold spaces and parentheses, so it runs to the LAST ')'.
    static func parseStat(_ b: [UInt8]) -> Stat? {
        guard let open = b.firstIndex(of: UInt8(ascii: "(")), let close = b.lastIndex(of: UInt8(ascii: ")")),
              open < close else { return nil }
        let comm = Array(b[(open + 1)..<close])
        let rest = b[(close + 1)...].split(separator: UInt8(ascii: " "))
        // rest[0] = state (field 3), so field N is rest[N - 3]
        guard rest.count >= 20, let pgrp = ProcFiles.int(rest[2]), let session = ProcFiles.int(rest[3]),
              let tty = ProcFiles.int(rest[4]), let start = ProcFiles.int(rest[19]) else { return nil }
        return Stat(comm: comm, pgrp: UInt32(truncatingIfNeeded: pgrp), session: UInt32(truncatingIfNeeded: session),
                    ttyNr: UInt32(truncatingIfNeeded: tty), startTicks: UInt64(max(start, 0)))
    }

    /// exe_flags bit 2 as the kernel side decides it (sensor/helpers/extract.h `extract__writable`): not on a
    /// read-only mount, not immutable, and the write bit of the owner (fsuid owns the file), the group (fsgid
    /// or one of the first 32 supplementary groups) or others, or CAP_DAC_OVERRIDE in the effective set.
    static func writable(exe: String, status s: Status) -> Bool {
        var mode: UInt32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        var immutable: Int32 = 0
        guard lanner_c_statx(exe, &mode, &uid, &gid, &immutable) == 0, immutable == 0 else { return false }
        var vfs = statvfs()
        if statvfs(exe, &vfs) == 0, vfs.f_flag & UInt(ST_RDONLY) != 0 { return false }
        let w: Bool
        if s.fsuid == uid {
            w = mode & 0o200 != 0
        } else if s.fsgid == gid || s.groups.prefix(32).contains(gid) {
            w = mode & 0o020 != 0
        } else {
            w = mode & 0o002 != 0
        }
        return w || s.capEff & (1 << 1) != 0 // CAP_DAC_OVERRIDE
    }

    struct Status {
        var ppid: UInt32 = 0
        var uid: UInt32 = 0, euid: UInt32 = 0, gid: UInt32 = 0
        var fsuid: UInt32 = 0, fsgid: UInt32 = 0
        var groups: [UInt32] = []
        var capEff: UInt64 = 0, capPrm: UInt64 = 0
        var nsPid: UInt32?
    }

    static func parseStatus(_ b: [UInt8]) -> Status {
        var s = Status()
        for line in ProcFiles.lines(b) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let key = line[line.startIndex..<colon]
            let values = line[(colon + 1)...].split { $0 == 9 || $0 == 32 }
            func num(_ i: Int) -> UInt32? {
                i < values.count ? ProcFiles.int(values[i]).map { UInt32(truncatingIfNeeded: $0) } : nil
            }
            switch String(decoding: key, as: UTF8.self) {
            case "PPid": s.ppid = num(0) ?? 0
            case "Uid": s.uid = num(0) ?? 0; s.euid = num(1) ?? 0; s.fsuid = num(3) ?? 0
            case "Gid": s.gid = num(0) ?? 0; s.fsgid = num(3) ?? 0
            case "Groups": s.groups = (0..<values.count).compactMap { num($0) }
            case "CapEff": s.capEff = values.first.flatMap { ProcFiles.hex($0) } ?? 0
            case "CapPrm": s.capPrm = values.first.flatMap { ProcFiles.hex($0) } ?? 0
            case "NSpid": s.nsPid = values.last.flatMap { ProcFiles.int($0) }.map { UInt32(truncatingIfNeeded: $0) }
            default: break
            }
        }
        return s
    }

    /// Controller names in subsystem id order (the rows of /proc/cgroups).
    public static func controllerOrder(procRoot: String = "/proc") -> [String] {
        guard let b = ProcFiles.read(procRoot + "/cgroups") else { return [] }
        return ProcFiles.lines(b).compactMap { line in
            guard let first = line.first, first != UInt8(ascii: "#") else { return nil }
            return line.split { $0 == 9 || $0 == 32 }.first.map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// The cgroup path the kernel side reports, from the text of /proc/PID/cgroup:
    /// the `0::` path unless it is "/", else the first controller (in `controllerOrder`) whose v1 path is
    /// not "/", else "/".
    public static func cgroupPath(procCgroup: [UInt8], controllerOrder: [String]) -> [UInt8] {
        var v2: [UInt8]?
        var byController: [String: [UInt8]] = [:]
        for line in ProcFiles.lines(procCgroup) where !line.isEmpty {
            // hierarchy-id:controller-list:path (the path may contain ':')
            let parts = line.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = Array(parts[2])
            if parts[0].elementsEqual("0".utf8) && parts[1].isEmpty {
                v2 = path
                continue
            }
            for c in parts[1].split(separator: UInt8(ascii: ",")) {
                byController[String(decoding: c, as: UTF8.self)] = path
            }
        }
        let root: [UInt8] = [UInt8(ascii: "/")]
        if let v2, v2 != root { return v2 }
        for c in controllerOrder {
            if let p = byController[c], p != root { return p }
        }
        return root
    }
}
