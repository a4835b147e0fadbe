import Foundation
import LannerWire

/// The golden batches: the values here, the bytes in proto/golden/NNN-name.bin, and the decoded view in
/// NNN-name.json must all agree. Set LANNER_UPDATE_GOLDEN=1 to rewrite the files after a deliberate change.
enum Golden {
    static let sensor = ID128(hex: "5f0e7d3a-1c2b-4a59-8e6f-0123456789ab")!
    static let boot = ID128(hex: "0a1b2c3d4e5f60718293a4b5c6d7e8f9")!

    static func header(seq: UInt64) -> BatchHeader {
        BatchHeader(sequence: seq, bootTimeUnixNs: 1_796_000_000_000_000_000, kernelDrops: 3, userDrops: 0, readFailures: 2,
                    sensorID: sensor, bootID: boot, hostname: "web-1", sensorVersion: "0.1.0")
    }

    static func b(_ s: String) -> ArraySlice<UInt8> { ArraySlice(s.utf8) }

    static let execve = ExecveEvent(
        pid: 4242, tid: 4242, ts: 123_456_789, res: 0, ppid: 4200, uid: 0, gid: 0, euid: 0, loginuid: 1000,
        vpid: 4242, sid: 4100, pgid: 4242, tty: 34816, capEffective: 0x1ff_ffff_ffff, capPermitted: 0x1ff_ffff_ffff,
        startNs: 123_450_000, exeFlags: 0,
        comm: b("cat"), exe: b("/usr/bin/cat"), filename: b("/bin/cat"), args: b("/bin/cat\0/etc/hostname\0"), cwd: b("/root"),
        cgroup: b("/user.slice"))
    static let openat = OpenEvent(
        type: .openat, pid: 4242, tid: 4242, ts: 123_460_000, res: 3, flags: 0o2000000, mode: 0, dirfd: -100,
        dev: 0x800001, ino: 131_075, name: b("/etc/hostname"), nameraw: b("/etc/hostname"))
    static let clone = CloneEvent(type: .clone, pid: 4200, tid: 4200, ts: 123_400_000, res: 4242, childPid: 4242, flags: 0, comm: b("bash"))
    static let exit = ProcexitEvent(pid: 4242, tid: 4242, ts: 123_470_000, status: 0, flags: 1)
    static let connect = ConnectEvent(
        pid: 4243, tid: 4243, ts: 123_480_000, res: 0, fd: 3, family: 2, socktype: 1, sport: 40_000, dport: 8080,
        saddr: ArraySlice([127, 0, 0, 1] + [UInt8](repeating: 0, count: 12)),
        daddr: ArraySlice([127, 0, 0, 1] + [UInt8](repeating: 0, count: 12)), path: [])
    static let procinfo = ExecveEvent(
        type: .procinfo, pid: 1, tid: 1, ts: 0, ppid: 0, uid: 0, gid: 0, euid: 0, loginuid: 4_294_967_295, vpid: 1, sid: 1, pgid: 1,
        startNs: 1_000_000, comm: b("init"), exe: b("/sbin/init"), filename: b("/sbin/init"), args: b("/sbin/init\0"), cwd: b("/"),
        cgroup: b("/"))
    static let user = UserinfoEvent(pid: 0, tid: 0, ts: 0, uid: 1000, gid: 1000, name: b("alice"), home: b("/home/alice"), shell: b("/bin/bash"))
    static let group = GroupinfoEvent(pid: 0, tid: 0, ts: 0, gid: 1000, name: b("alice"))
    /// A podman container with a host mount and Kubernetes labels, then its removal.
    static let container = ContainerinfoEvent(
        pid: 0, tid: 0, ts: 123_500_000, flags: 1, startedNs: 1_796_368_798_948_294_363,
        id: b("1f6182ec81cae3c039208af68acf6556262726667f621b6cf3f195e3f2260b94"), name: b("web-1"),
        image: b("localhost/bbox:latest"), imageId: b("8da6e0e5fc45ce84d96bb1c74f7654a24aa82162c6bf28c283db80f99ba91694"),
        runtime: b("podman"),
        labels: b("app\0web\0io.kubernetes.pod.name\0web-1\0io.kubernetes.pod.namespace\0prod\0"),
        mounts: b("/proc\0/host/proc\0\0false\0rprivate\0"), marathonAppId: [])
    static let containerRemoved = ContainerinfoEvent(
        pid: 0, tid: 0, ts: 123_600_000, flags: 16, id: b("1f6182ec81cae3c039208af68acf6556262726667f621b6cf3f195e3f2260b94"))

    /// name -> (header, events)
    static let cases: [(name: String, seq: UInt64, events: [any WireEncodable])] = [
        ("001-execve", 1, [execve]),
        ("002-openat", 2, [openat]),
        ("003-lifecycle-mix", 3, [procinfo, user, group, clone, execve, openat, connect, exit]),
        ("004-empty", 4, []),
        ("005-compressed", 5, [procinfo, user, group, clone, execve] + opens + [connect, exit]),
        ("006-containerinfo", 6, [container, containerRemoved]),
        ("007-v1.2-header", 7, [clone, exit]),
    ]

    /// Cases written in an older minor's header layout (what a sensor of that version sends): 1.2 has no read
    /// failures, and a decoder reads them as 0.
    static let olderMinor: [String: UInt16] = ["007-v1.2-header": 2]

    /// Six opens of the same process: the repetition a real batch has, so the compressed case is smaller.
    static let opens: [OpenEvent] = (0..<6).map { i in
        OpenEvent(type: .openat, pid: 4242, tid: 4242, ts: 123_460_000 + UInt64(i) * 1000, res: 3 + Int64(i), flags: 0o2000000,
                  mode: 0, dirfd: -100, dev: 0x800001, ino: 131_075 + UInt64(i), name: b("/usr/lib/x86_64-linux-gnu/libc.so.6"),
                  nameraw: b("/lib/x86_64-linux-gnu/libc.so.6"))
    }

    /// Cases whose records section is zstd-compressed (flag bit 0), at level 3.
    static let compressed: Set<String> = ["005-compressed"]
    /// The libzstd that wrote the compressed golden bytes (Debian 12's 1.5.4). Another version may choose
    /// different (equally valid) bytes; the test then compares the header and the decompressed records instead.
    static let goldenZstdVersion = 10504

    static func body(_ c: (name: String, seq: UInt64, events: [any WireEncodable])) throws -> [UInt8] {
        var enc = BatchEncoder()
        for e in c.events { try enc.append(AnyEncodable(e)) }
        var h = header(seq: c.seq)
        if compressed.contains(c.name) { h.flags = 0 }
        if let minor = olderMinor[c.name] {
            h.versionMinor = minor
            h.readFailures = 0
        }
        let plain = try enc.finish(header: h)
        guard compressed.contains(c.name) else { return plain }
        guard let packed = BatchCompression.compress(plain, with: Zstd.Compressor(level: 3)) else {
            throw GoldenError.notSmaller(c.name)
        }
        return packed
    }

    enum GoldenError: Error { case notSmaller(String) }

    static func expectedJSON(_ body: [UInt8]) throws -> String {
        let batch = try BatchDecoder.decode(body)
        return "{\"header\":" + RecordDump.json(batch.header) + ",\"records\":[\n"
            + batch.records.map { "  " + RecordDump.json($0) }.joined(separator: ",\n") + "\n]}\n"
    }

    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("proto/golden")
    }
}

struct AnyEncodable: WireEncodable {
    let base: any WireEncodable
    init(_ b: any WireEncodable) { base = b }
    func encode(into w: inout ByteWriter) throws(WireError) { try base.encode(into: &w) }
}
