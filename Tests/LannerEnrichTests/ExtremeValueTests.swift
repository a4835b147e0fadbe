import Testing
import LannerRules
import LannerWire
import LannerTestSupport
@testable import LannerEnrich

/// Records may hold any value their fields' types allow: a corrupt or hostile batch is decoded (it is well
/// formed) and evaluated like any other. No field may trap on one; `evt.res` of Int64.min did (`Int(-res)`),
/// and took the collector down whenever a rule read it. Each row extracts a field from a record with an extreme
/// value (Int64.min/max, UInt64.max, UInt32.max) and checks the value, not only that nothing trapped.
@Suite struct ExtremeValueTests {
    static let imin = Int64.min, imax = Int64.max, umax = UInt64.max, u32max = UInt32.max
    static let now: UInt64 = 1_796_000_000_000_001_000

    struct Row: Sendable, CustomTestStringConvertible {
        let field: String
        let arg: String?
        /// Records applied before the event (state).
        let setup: [[UInt8]]
        let event: [UInt8]
        let timeNs: UInt64
        let expected: [String]
        let label: String
        var testDescription: String { "\(field)\(arg.map { "[\($0)]" } ?? "") \(label)" }

        init(_ field: String, arg: String? = nil, _ label: String, setup: [[UInt8]] = [], _ event: [UInt8], timeNs: UInt64 = ExtremeValueTests.now,
             _ expected: [String]) {
            self.field = field
            self.arg = arg
            self.label = label
            self.setup = setup
            self.event = event
            self.timeNs = timeNs
            self.expected = expected
        }
    }

    static func encode(_ e: some WireEncodable) -> [UInt8] {
        var w = ByteWriter()
        try! e.encode(into: &w)
        return w.bytes
    }

    static func open(res: Int64 = 3, ts: UInt64 = 1500, pid: UInt32 = 200, dev: UInt32 = 1, ino: UInt64 = 2) -> [UInt8] {
        encode(OpenEvent(type: .openat, pid: pid, tid: pid, ts: ts, res: res, flags: 0, mode: 0, dirfd: -100, dev: dev, ino: ino,
                         name: Rec.b("/x"), nameraw: Rec.b("x")))
    }
    static func rename(res: Int64) -> [UInt8] {
        encode(RenameEvent(type: .renameat, pid: 200, tid: 200, ts: 1500, res: res, olddirfd: -100, newdirfd: -100, flags: 0,
                           oldpath: Rec.b("/a"), oldpathraw: Rec.b("a"), newpath: Rec.b("/b"), newpathraw: Rec.b("b")))
    }
    static func mmap(res: Int64 = 0, length: UInt64 = 4096, flags: UInt32 = 2) -> [UInt8] {
        encode(MmapEvent(pid: 200, tid: 200, ts: 1500, res: res, addr: 0, length: length, prot: 1, flags: flags, fd: -1, offset: 0))
    }
    static func exit(status: Int64) -> [UInt8] { encode(ProcexitEvent(pid: 200, tid: 200, ts: 1500, status: status, flags: 1)) }

    static let allCaps = Render.capNames.joined(separator: " ")
    static let containerID = "1f6182ec81cae3c039208af68acf6556262726667f621b6cf3f195e3f2260b94"
    static let inContainer: [[UInt8]] = [
        Rec.container(id: containerID, startedNs: umax),
        Rec.exec(pid: 500, ppid: 1, comm: "sh", exe: "/bin/sh", args: ["sh"], cgroup: "/machine.slice/libpod-\(containerID).scope"),
    ]

    static let rows: [Row] = [
        // Results: below the errno range a result is its number; Int64.min used to trap on negation.
        Row("evt.res", "execve res Int64.min", Rec.exec(pid: 200, ppid: 100, comm: "x", exe: "/x", args: [], res: imin), ["-9223372036854775808"]),
        Row("evt.res", "open res Int64.min", open(res: imin), ["-9223372036854775808"]),
        Row("evt.res", "open res Int64.max", open(res: imax), ["SUCCESS"]),
        Row("evt.res", "-4095, the last errno", open(res: -4095), ["E4095"]),
        Row("evt.res", "-4096, not an errno", open(res: -4096), ["-4096"]),
        Row("evt.res", "-201, past the cached names", open(res: -201), ["E201"]),
        Row("evt.rawres", "Int64.min", open(res: imin), ["-9223372036854775808"]),
        Row("evt.failed", "Int64.min", open(res: imin), ["true"]),
        Row("fd.num", "open res Int64.min", open(res: imin), ["-1"]),
        Row("evt.arg", arg: "fd", "open res Int64.min", open(res: imin), ["-9223372036854775808"]),
        Row("evt.arg", arg: "fd", "open res -2", open(res: -2), ["-2(ENOENT)"]),
        Row("evt.arg", arg: "res", "connect res Int64.min", Rec.connect(pid: 200, sport: 1, dport: 2, res: imin), ["-9223372036854775808"]),
        Row("evt.arg", arg: "res", "table result Int64.min", rename(res: imin), ["-9223372036854775808"]),
        Row("evt.arg", arg: "res", "table result Int64.max", rename(res: imax), ["9223372036854775807"]),
        Row("evt.arg", arg: "res", "table result -4095", rename(res: -4095), ["-4095(E4095)"]),
        Row("evt.rawarg", arg: "res", "table result Int64.min", rename(res: imin), ["-9223372036854775808"]),
        Row("evt.args", "open res Int64.min", open(res: imin),
            ["fd=-9223372036854775808 dirfd=-100(AT_FDCWD) name=x flags=O_RDONLY mode=00 dev=1 ino=2"]),
        Row("evt.arg", arg: "res", "mmap res Int64.min (hex)", mmap(res: imin), ["0x8000000000000000"]),
        Row("evt.arg", arg: "length", "mmap length UInt64.max", mmap(length: umax), ["18446744073709551615"]),
        Row("evt.rawarg", arg: "length", "mmap length UInt64.max", mmap(length: umax), ["18446744073709551615"]),
        Row("evt.arg", arg: "status", "exit status Int64.min", exit(status: imin), ["-9223372036854775808"]),
        Row("evt.arg", arg: "ret", "exit status Int64.min", exit(status: imin), ["0"]),
        Row("fd.ino", "UInt64.max", open(ino: umax), ["18446744073709551615"]),
        Row("fd.dev", "UInt32.max", open(dev: u32max), ["4294967295"]),

        // Times: the event's time, and starts from exec records and container records (all UInt64 on the wire).
        Row("evt.rawtime", "UInt64.max (clamped)", open(), timeNs: umax, ["9223372036854775807"]),
        Row("evt.rawtime.s", "UInt64.max", open(), timeNs: umax, ["18446744073"]),
        Row("evt.time.iso8601", "UInt64.max", open(), timeNs: umax, ["2554-07-21T23:34:33.709551615Z"]),
        Row("proc.duration", "event ts UInt64.max", setup: [Rec.exec(pid: 300, ppid: 1, comm: "p", exe: "/p", args: [], ts: 1000)],
            open(ts: umax, pid: 300), [String(Int64(bitPattern: umax - 1000))]),
        Row("proc.duration", "start UInt64.max", setup: [Rec.exec(pid: 300, ppid: 1, comm: "p", exe: "/p", args: [], ts: umax)],
            open(ts: 1500, pid: 300), ["1501"]),
        Row("proc.pid.ts", "start UInt64.max", setup: [Rec.exec(pid: 300, ppid: 1, comm: "p", exe: "/p", args: [], ts: umax)],
            open(ts: 1500, pid: 300), [String(now - 1501)]),
        Row("proc.pid.ts", "start and event ts UInt64.max", setup: [Rec.exec(pid: 300, ppid: 1, comm: "p", exe: "/p", args: [], ts: umax)],
            open(ts: umax, pid: 300), timeNs: umax, ["9223372036854775807"]),
        Row("proc.ppid.duration", "parent start UInt64.max",
            setup: [Rec.exec(pid: 300, ppid: 1, comm: "p", exe: "/p", args: [], ts: umax), Rec.clone(parent: 300, child: 301, ts: 1000)],
            open(ts: 1500, pid: 301), ["1501"]),
        Row("proc.ppid.ts", "parent start UInt64.max",
            setup: [Rec.exec(pid: 300, ppid: 1, comm: "p", exe: "/p", args: [], ts: umax), Rec.clone(parent: 300, child: 301, ts: 1000)],
            open(ts: 1500, pid: 301), [String(now - 1501)]),
        Row("container.start_ts", "UInt64.max (clamped)", setup: inContainer, open(pid: 500), ["9223372036854775807"]),
        Row("container.duration", "start UInt64.max", setup: inContainer, open(pid: 500), [String(now + 1)]),

        // UInt32.max ids and UInt64.max capability sets.
        Row("proc.pid", "UInt32.max", setup: [Rec.exec(pid: u32max, ppid: 1, comm: "p", exe: "/p", args: [])], open(pid: u32max), ["4294967295"]),
        Row("thread.tid", "UInt32.max", open(pid: u32max), ["4294967295"]),
        Row("user.uid", "UInt32.max", setup: [Rec.exec(pid: 300, ppid: 1, comm: "p", exe: "/p", args: [], uid: u32max)], open(pid: 300), ["4294967295"]),
        Row("user.loginuid", "UInt32.max (unset)", setup: [Rec.exec(pid: 300, ppid: 1, comm: "p", exe: "/p", args: [], loginuid: u32max)],
            open(pid: 300), ["-1"]),
        Row("proc.tty", "UInt32.max", setup: [Rec.exec(pid: 300, ppid: 1, comm: "p", exe: "/p", args: [], tty: u32max)], open(pid: 300), ["4294967295"]),
        Row("evt.arg", arg: "cap_permitted", "UInt64.max", Rec.exec(pid: 300, ppid: 1, comm: "p", exe: "/p", args: [], caps: umax), [allCaps]),
        Row("evt.rawarg", arg: "cap_effective", "UInt64.max", Rec.exec(pid: 300, ppid: 1, comm: "p", exe: "/p", args: [], caps: umax), ["18446744073709551615"]),
    ]

    @Test(arguments: rows)
    func extremeValuesGiveTheirValue(_ row: Row) {
        let h = HostStateTests.family()
        HostStateTests.apply(h, row.setup)
        #expect(HostStateTests.field(row.field, row.event, h, arg: row.arg, timeNs: row.timeNs) == row.expected)
    }

    /// `Render.result` and `evt.res` over the whole boundary: SUCCESS, names, `E<n>` to -4095, numbers below.
    @Test(arguments: [
        (0 as Int64, "SUCCESS", "0"), (imax, "SUCCESS", "9223372036854775807"), (-1, "EPERM", "-1(EPERM)"),
        (-200, "E200", "-200(E200)"), (-4095, "E4095", "-4095(E4095)"), (-4096, "-4096", "-4096"),
        (imin + 1, "-9223372036854775807", "-9223372036854775807"), (imin, "-9223372036854775808", "-9223372036854775808"),
    ])
    func resultRenderings(_ res: Int64, _ text: String, _ argument: String) {
        #expect(Render.result(res) == text)
        #expect(Render.resultArgument(res) == argument)
        #expect(ResultNames.bytes(res).map(\.string) ?? Render.result(res) == text)
    }
}
