import Foundation
import Glibc

/// The container actions: each starts its own short-lived busybox container with podman (--network=none),
/// opens a file inside it, and removes it. The image is built locally from the host's static busybox the
/// first time (no registry). The sensor describes the container from the runtime's Docker-compatible API
/// socket, so the rules can see that it is privileged or what it mounts.
enum ContainerActions {
    static let image = "localhost/lanner-eventgen:latest"
    static let busybox = "/bin/busybox"
    /// Time for the sensor to hear of the container's start and inspect it before the file is opened (an
    /// event of a container the collector has not been told about has <NA> metadata, so the rule cannot match).
    nonisolated(unsafe) static var settleMs = 1000

    static let all: [Action] = [
        Action(name: "container-privileged-open",
               summary: "starts a privileged busybox container with podman (--network=none) and opens /etc/hostname in it",
               rule: "File opened in a privileged container", run: { try openInContainer(kind: "priv", flags: ["--privileged"]) }),
        Action(name: "container-sensitive-mount-open",
               summary: "starts a busybox container with the host's /proc mounted at /host/proc (read-only) and opens /etc/hostname in it",
               rule: "File opened in a container with a sensitive host path mounted",
               run: { try openInContainer(kind: "procmount", flags: ["-v", "/proc:/host/proc:ro"]) }),
    ]

    static func openInContainer(kind: String, flags: [String]) throws -> String {
        let podman = try podmanPath()
        let note = apiSocketNote()
        try ensureImage(podman)
        let name = "lanner-eventgen-\(kind)-\(getpid())"
        let started = try run(podman, ["run", "-d", "--name", name, "--network=none"] + flags + [image, "sleep", "60"])
        defer { _ = try? run(podman, ["rm", "-f", "-t", "0", name]) }
        let id = started.trimmingCharacters(in: .whitespacesAndNewlines)
        usleep(UInt32(settleMs) * 1000)
        _ = try run(podman, ["exec", name, "cat", "/etc/hostname"])
        return "container \(name) (\(id.prefix(12))) opened /etc/hostname, then was removed" + (note.map { "; " + $0 } ?? "")
    }

    /// podman on PATH (or in /usr/bin), else why the actions cannot run.
    static func podmanPath() throws -> String {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        if let p = dirs.map({ $0 + "/podman" }).first(where: { access($0, X_OK) == 0 }) { return p }
        throw EventgenError(description: "no container runtime: podman is not installed (apt-get install podman runc busybox-static, "
                            + "or scripts/install-deps.sh); the container actions start their container with podman")
    }

    /// A warning when no Docker-compatible API socket is where the sensor looks by default: without one the
    /// sensor cannot describe the container, and the rule cannot fire.
    static func apiSocketNote() -> String? {
        let sockets = ["/var/run/docker.sock", "/run/podman/podman.sock"]
        guard !sockets.contains(where: { access($0, F_OK) == 0 }) else { return nil }
        let text = "note: no container API socket at \(sockets.joined(separator: " or ")): unless the sensor runs with "
            + "--container-socket, it cannot describe this container and the rule cannot fire "
            + "(start one with: podman system service --time=0 unix:///run/podman/podman.sock &)"
        FileHandle.standardError.write(Data(("lanner-eventgen: " + text + "\n").utf8))
        return "without a container API socket"
    }

    /// Builds `image` from the host's static busybox unless it exists: a root file system of busybox and its
    /// applet links, passwd/group/shadow for root, imported with `podman import`.
    static func ensureImage(_ podman: String) throws {
        if (try? run(podman, ["image", "exists", image])) != nil { return }
        guard access(busybox, X_OK) == 0 else {
            throw EventgenError(description: "\(busybox) is missing: apt-get install busybox-static (the image is built from it)")
        }
        guard try isStatic(busybox) else {
            throw EventgenError(description: "\(busybox) is dynamically linked and would not run in an empty image: apt-get install busybox-static")
        }
        var template = Array("/tmp/lanner-eventgen-rootfs-XXXXXX".utf8CString)
        guard let d = mkdtemp(&template) else { throw EventgenError(description: "mkdtemp: \(String(cString: strerror(errno)))") }
        let root = String(cString: d)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fm = FileManager.default
        for dir in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
            try fm.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: busybox, toPath: root + "/bin/busybox")
        let applets = try run(busybox, ["--list"]).split(separator: "\n").map(String.init)
        for a in applets where a != "busybox" && !a.contains("/") {
            try fm.createSymbolicLink(atPath: root + "/bin/" + a, withDestinationPath: "busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\n".write(toFile: root + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\n".write(toFile: root + "/etc/group", atomically: true, encoding: .utf8)
        try "root:*:19000:0:99999:7:::\n".write(toFile: root + "/etc/shadow", atomically: true, encoding: .utf8)
        let tar = root + ".tar"
        defer { unlink(tar) }
        _ = try run("/bin/tar", ["-C", root, "-cf", tar, "."])
        _ = try run(podman, ["import", "-q", "--change", "CMD [\"/bin/sh\"]", tar, image])
    }

    /// Whether an ELF executable has no program interpreter (PT_INTERP), i.e. runs without ld.so.
    static func isStatic(_ path: String) throws -> Bool {
        let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? h.close() }
        let b = Array(h.readData(ofLength: 64 << 10))
        guard b.count >= 64, b[0..<4] == [0x7f, 0x45, 0x4c, 0x46], b[4] == 2 else { return false }   // ELF64
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        var phoff = 0
        for i in 0..<8 { phoff |= Int(b[0x20 + i]) << (8 * i) }
        let size = u16(0x36), count = u16(0x38)
        for i in 0..<count {
            let o = phoff + i * size
            guard o + 4 <= b.count else { return false }
            if b[o] == 3 && b[o + 1] == 0 && b[o + 2] == 0 && b[o + 3] == 0 { return false }   // PT_INTERP
        }
        return true
    }

    /// Runs a program to completion; its output, or an error with its output when it fails. The output goes
    /// through a file, not a pipe: `podman run -d` leaves conmon, which outlives the command, holding the
    /// descriptors it was given.
    @discardableResult
    static func run(_ path: String, _ args: [String]) throws -> String {
        var template = Array("/tmp/lanner-eventgen-out-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw EventgenError(description: "mkstemp: \(String(cString: strerror(errno)))") }
        let outPath = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { close(fd); unlink(outPath) }
        let status = try Actions.spawn(path, [path] + args, output: fd)
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw EventgenError(description: "\((path as NSString).lastPathComponent) \(args.joined(separator: " ")) failed (status \(status)): "
                                + text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return text
    }
}
