import Glibc
import LannerSensorAgent
import Testing

/// The loader's failures say which step failed and what to do; no root needed.
@Suite struct BPFErrorTests {
    @Test func missingObjectSaysHowToBuildIt() {
        #expect {
            _ = try BPFProbe(config: ProbeConfig(objectPath: "/nonexistent/lanner.bpf.o"))
        } throws: { e in
            guard let e = e as? BPFError, case .objectNotFound(let path) = e else { return false }
            return path == "/nonexistent/lanner.bpf.o" && e.description.contains("make -C sensor")
        }
    }

    /// Running out of descriptors is the open-file limit, not a stale object (it used to say "rebuild it").
    @Test func outOfDescriptorsNamesTheLimit() {
        #expect(BPFError.keepDescriptor(of: "lanner_events", errno: EMFILE).description
                == "keeping lanner_events's file descriptor failed: Too many open files (errno 24); raise the open-file limit "
                + "(ulimit -n): the probe keeps a descriptor per program, per map and per attached program")
        #expect(BPFError.attach(program: "p", section: "tracepoint/syscalls/sys_exit_kill", errno: ENFILE).description
                .hasSuffix("raise the open-file limit (ulimit -n): the probe keeps a descriptor per program, per map and per attached program"))
    }

    @Test(arguments: [
        ProbeConfig(objectPath: "/x", ringBufferBytes: 3 << 20),
        ProbeConfig(objectPath: "/x", ringBufferBytes: 1024),
        ProbeConfig(objectPath: "/x", ringBufferBytes: 512 << 20),
        ProbeConfig(objectPath: "/x", argvLimit: 0),
        ProbeConfig(objectPath: "/x", argvLimit: 40000),
        ProbeConfig(objectPath: "/x", ignoredTgids: Array(1...9)),
        ProbeConfig(objectPath: "/x", wakeupBytes: -1),
    ])
    func invalidConfigIsRefusedBeforeTouchingTheKernel(_ c: ProbeConfig) {
        #expect {
            _ = try BPFProbe(config: c)
        } throws: { e in
            guard let e = e as? BPFError, case .invalidConfig = e else { return false }
            return true
        }
    }

    @Test func notAnObjectFailsAtOpen() throws {
        let path = "/tmp/lanner-not-an-object.\(getpid()).o"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = "not ELF".withCString { write(fd, $0, 7) }
        close(fd)
        defer { unlink(path) }
        #expect {
            _ = try BPFProbe(config: ProbeConfig(objectPath: path))
        } throws: { e in
            guard let e = e as? BPFError, case .open(let p, _) = e else { return false }
            return p == path && e.description.contains("opening eBPF object")
        }
    }

    @Test func descriptionsNameTheStepAndTheFix() {
        let attach = BPFError.attach(program: "lanner_exit_openat", section: "tracepoint/syscalls/sys_exit_openat", errno: ENOENT)
        #expect(attach.description.contains("lanner_exit_openat"))
        #expect(attach.description.contains("mount -t tracefs"))
        #expect(BPFError.load(errno: EPERM, log: []).description.contains("run as root"))
        let load = BPFError.load(errno: EACCES, log: ["R2 unbounded memory access"])
        #expect(load.description.contains("verifier") && load.description.contains("R2 unbounded"))
    }
}
