import Foundation
import Glibc

/// One harmless action that Lanner's default rules are meant to catch.
struct Action: Sendable {
    let name: String
    let summary: String
    /// The rule it should raise.
    let rule: String
    let run: @Sendable () throws -> String
}

struct EventgenError: Error, CustomStringConvertible {
    let description: String
}

enum Syscall {
    /// Throws with errno's text when `rc` is -1.
    @discardableResult
    static func check(_ rc: Int32, _ what: String) throws -> Int32 {
        if rc < 0 { throw EventgenError(description: "\(what): \(String(cString: strerror(errno)))") }
        return rc
    }
}

enum Actions {
    static let all: [Action] = [
        Action(name: "read-sensitive-file", summary: "opens /etc/shadow for reading and reads 1 byte",
               rule: "Sensitive file opened for reading by untrusted program", run: readSensitiveFile),
        Action(name: "write-below-bin", summary: "creates, writes and removes its own file below /bin",
               rule: "File written below a binary directory", run: writeBelowBin),
        Action(name: "spawn-shell", summary: "renames itself 'lanner-httpd' and spawns sh -c true",
               rule: "Shell spawned by an unexpected parent", run: spawnShell),
        Action(name: "connect-as-cat", summary: "runs as a program named 'cat' that connects to a listener on 127.0.0.1",
               rule: "Outbound connection by a program that has no business on the network", run: connectAsCat),
    ]

    static func readSensitiveFile() throws -> String {
        let fd = try Syscall.check(open("/etc/shadow", O_RDONLY), "open /etc/shadow (run as root)")
        defer { close(fd) }
        var b: UInt8 = 0
        _ = read(fd, &b, 1)
        return "opened /etc/shadow for reading"
    }

    static func writeBelowBin() throws -> String {
        let path = "/bin/.lanner-eventgen-\(getpid())"
        let fd = try Syscall.check(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600), "create \(path) (run as root)")
        let text = Array("written by lanner-eventgen; safe to delete\n".utf8)
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        try Syscall.check(unlink(path), "remove \(path)")
        return "created and removed \(path)"
    }

    /// Re-executes this program as a child that renames itself and starts a shell.
    static func spawnShell() throws -> String {
        let status = try spawnSelf(as: nil, arguments: ["__spawn-shell-child"])
        guard status == 0 else { throw EventgenError(description: "the renamed child exited with status \(status)") }
        return "a child renamed 'lanner-httpd' ran /bin/sh -c true"
    }

    /// Child side of spawn-shell.
    static func spawnShellChild() -> Int32 {
        // Same effect as prctl(PR_SET_NAME): the kernel renames the task without an exec.
        let fd = open("/proc/self/comm", O_WRONLY)
        if fd >= 0 {
            let name = Array("lanner-httpd".utf8)
            _ = name.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        let status = (try? spawn("/bin/sh", ["sh", "-c", "true"])) ?? 127
        return status
    }

    /// Opens a listener on 127.0.0.1, then runs this program under the name `cat` to connect to it.
    static func connectAsCat() throws -> String {
        let listener = try Syscall.check(socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0), "socket")
        defer { close(listener) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        _ = try withUnsafePointer(to: &addr) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try Syscall.check(bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)), "bind 127.0.0.1")
            }
        }
        try Syscall.check(listen(listener, 4), "listen")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        let port = UInt16(bigEndian: addr.sin_port)
        let status = try spawnSelf(as: "cat", arguments: ["__connect", String(port)])
        let conn = accept(listener, nil, nil)
        if conn >= 0 { close(conn) }
        guard status == 0 else { throw EventgenError(description: "the 'cat' child could not connect (status \(status))") }
        return "a program named 'cat' connected to 127.0.0.1:\(port)"
    }

    /// Child side of connect-as-cat.
    static func connectChild(port: UInt16) -> Int32 {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { return 1 }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        close(s)
        return rc == 0 ? 0 : 2
    }

    // MARK: - Process helpers

    /// This program's own executable.
    static func selfPath() throws -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { throw EventgenError(description: "cannot read /proc/self/exe") }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Runs this program again with `arguments`; with `name`, through a symlink so the kernel names the
    /// process `name` (the task name comes from the path executed). Returns the exit status.
    static func spawnSelf(as name: String?, arguments: [String]) throws -> Int32 {
        let exe = try selfPath()
        var path = exe
        var dir: String?
        if let name {
            var template = Array("/tmp/lanner-eventgen-XXXXXX".utf8CString)
            guard let d = mkdtemp(&template) else { throw EventgenError(description: "mkdtemp failed") }
            dir = String(cString: d)
            path = dir! + "/" + name
            try Syscall.check(symlink(exe, path), "symlink \(path)")
        }
        defer {
            if let dir {
                unlink(path)
                rmdir(dir)
            }
        }
        return try spawn(path, [name ?? "lanner-eventgen"] + arguments)
    }

    /// posix_spawn + waitpid; with `output`, the child's stdin is /dev/null and its stdout and stderr go to that fd.
    static func spawn(_ path: String, _ argv: [String], output: Int32? = nil) throws -> Int32 {
        var pid: pid_t = 0
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let output {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, output, 1)
            posix_spawn_file_actions_adddup2(&actions, output, 2)
        }
        let rc = posix_spawn(&pid, path, &actions, nil, &cargs, environ)
        guard rc == 0 else { throw EventgenError(description: "spawn \(path): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
