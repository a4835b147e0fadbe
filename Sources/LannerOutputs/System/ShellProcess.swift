import CLannerOutputShims
import Glibc

/// How a child process ended.
enum ExitStatus: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)
    /// Someone else reaped it (a `waitpid(-1)` elsewhere in the process).
    case unknown

    init(waitStatus s: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros; these are their definitions in glibc's <bits/waitstatus.h>.
        if s & 0x7f == 0 { self = .exited((s >> 8) & 0xff) } else { self = .signalled(s & 0x7f) }
    }

    var succeeded: Bool { self == .exited(0) }

    var description: String {
        switch self {
        case .exited(let c): return "exited with status \(c)"
        case .signalled(let s): return "was killed by signal \(s)\(signalName(s).map { " (\($0))" } ?? "")"
        case .unknown: return "exited (status unknown: reaped elsewhere)"
        }
    }
}

private func signalName(_ s: Int32) -> String? {
    switch s {
    case SIGKILL: return "SIGKILL"
    case SIGTERM: return "SIGTERM"
    case SIGPIPE: return "SIGPIPE"
    case SIGSEGV: return "SIGSEGV"
    case SIGABRT: return "SIGABRT"
    case SIGINT: return "SIGINT"
    case SIGHUP: return "SIGHUP"
    default: return nil
    }
}

/// `/bin/sh -c COMMAND` with a pipe on its stdin, in its own process group, with a clean signal state.
///
/// The child starts with no signals blocked and SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT at their default
/// action (the collector blocks SIGINT/SIGTERM and ignores SIGPIPE; children would inherit that). It gets only
/// descriptors 0–2 (everything above is closed in the child), stdout and stderr being the collector's.
/// Being its own process group, a terminal's Ctrl-C does not reach it directly: the collector stops it by
/// closing its stdin, then SIGTERM, then SIGKILL to the whole group.
/// Not thread-safe: owned by one output worker.
final class ShellProcess {
    let pid: pid_t
    let command: String
    let started: ContinuousClock.Instant
    /// Write end of the child's stdin, non-blocking; -1 once closed.
    private(set) var stdinFD: Int32
    /// Readable once the child has exited (pidfd_open); -1 if the kernel has none (then exits are polled).
    private let pidFD: Int32
    private(set) var status: ExitStatus?

    private init(pid: pid_t, command: String, stdinFD: Int32, pidFD: Int32) {
        self.pid = pid
        self.command = command
        self.stdinFD = stdinFD
        self.pidFD = pidFD
        started = .now
    }

    deinit {
        closeStdin()
        if status == nil {
            // Never leave a child behind: kill the group and reap it (it is dying, so this returns quickly).
            killGroup(SIGKILL)
            var s: Int32 = 0
            while waitpid(pid, &s, 0) < 0 && errno == EINTR {}
        }
        if pidFD >= 0 { Glibc.close(pidFD) }
    }

    /// Starts `/bin/sh -c command`.
    static func spawn(_ command: String) throws(SysError) -> ShellProcess {
        var p: [Int32] = [-1, -1]
        guard lanner_out_pipe2(&p, O_CLOEXEC) == 0 else { throw SysError("pipe2") }
        let (readEnd, writeEnd) = (p[0], p[1])

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, readEnd, 0)
        lanner_out_spawn_closefrom(&actions, 3)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sh"), strdup("-c"), strdup(command), nil]
        defer { for a in argv { free(a) } }
        let rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ)
        Glibc.close(readEnd)
        guard rc == 0 else {
            Glibc.close(writeEnd)
            throw SysError("posix_spawn /bin/sh", rc)
        }
        _ = setNonBlocking(writeEnd)
        return ShellProcess(pid: pid, command: command, stdinFD: writeEnd, pidFD: lanner_out_pidfd_open(pid))
    }

    /// Closes the child's stdin (it reads EOF). Idempotent.
    func closeStdin() {
        if stdinFD >= 0 {
            Glibc.close(stdinFD)
            stdinFD = -1
        }
    }

    /// Reaps the child if it has exited; its status, or nil while it runs.
    @discardableResult
    func poll() -> ExitStatus? {
        if let status { return status }
        var s: Int32 = 0
        while true {
            let r = waitpid(pid, &s, WNOHANG)
            if r == pid {
                status = ExitStatus(waitStatus: s)
                return status
            }
            if r < 0 && errno == EINTR { continue }
            if r < 0 {
                // ECHILD: someone else reaped it (a waitpid(-1) elsewhere in the process); it is gone.
                status = .unknown
                return status
            }
            return nil
        }
    }

    /// Waits for the child to exit until `deadline` (or cancellation); its status, or nil if it still runs.
    func wait(until deadline: Deadline, cancel: Canceller) -> ExitStatus? {
        var step = Duration.milliseconds(1)
        while true {
            if let s = poll() { return s }
            if deadline.hasPassed || cancel.isCancelled { return nil }
            if pidFD >= 0 {
                if case .cancelled = cancel.wait(fd: pidFD, events: Int16(POLLIN), until: deadline) { return poll() }
            } else {
                let left = deadline.instant.map { ContinuousClock.now.duration(to: $0) } ?? step
                if !cancel.sleep(min(step, max(left, .zero))) { return poll() }
                step = min(step * 2, .milliseconds(50))
            }
        }
    }

    /// Sends `signal` to the child's process group (sh and whatever it started), while the child is unreaped.
    func killGroup(_ signal: Int32) {
        guard status == nil else { return }
        _ = Glibc.kill(-pid, signal)
    }

    /// Stops the child: SIGTERM to its group, up to `grace` for it to exit, then SIGKILL; reaps it.
    @discardableResult
    func terminate(grace: Duration) -> ExitStatus {
        if let s = poll() { return s }
        killGroup(SIGTERM)
        let unstoppable = Canceller()   // waits here must finish even during shutdown
        if let s = wait(until: .after(grace), cancel: unstoppable) { return s }
        killGroup(SIGKILL)
        var s: Int32 = 0
        while waitpid(pid, &s, 0) < 0 && errno == EINTR {}
        status = ExitStatus(waitStatus: s)
        return status!
    }

    /// Bytes written to the child's stdin that it has not read (FIONREAD on the pipe); 0 if unknown.
    var unreadBytes: Int {
        guard stdinFD >= 0 else { return 0 }
        var n: Int32 = 0
        return ioctl(stdinFD, UInt(FIONREAD), &n) == 0 ? Int(n) : 0
    }

    var uptime: Duration { started.duration(to: .now) }
}
