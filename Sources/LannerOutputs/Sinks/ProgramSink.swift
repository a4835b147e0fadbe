import Glibc
import LannerStore

/// Alerts piped to a shell command, one line each on its stdin.
///
/// Long-lived (`keep_alive: true`): one process reads every alert. When it has exited (noticed before a write,
/// or by the write failing with EPIPE) it is started again, at once the first time and after a pause that
/// doubles from `backoff` up to `max_backoff` while it keeps exiting within 10 s of starting (a command that
/// cannot run is not restarted in a tight loop). A write the dead process did not take is a failed attempt
/// and is retried on the new process; lines it had taken into its pipe but not read are lost with it (the log
/// says how many bytes). While it does not read, the writes wait (cancellably): its queue fills and drops are
/// counted, and nothing else waits.
///
/// Per alert (`keep_alive: false`): a process per alert gets the line and end of input; success is exit
/// status 0 within `timeout`, else it is killed (SIGKILL to its process group) and the attempt failed.
final class ProgramSink: AlertSink {
    let config: ProgramOutputConfig
    private var process: ShellProcess?
    private var context: SinkContext?
    private var lastStart: ContinuousClock.Instant?
    private var quickExits = 0
    private var spawned = 0
    /// A process that lived at least this long counts as having run, and resets the restart backoff.
    static let stableUptime: Duration = .seconds(10)

    init(config: ProgramOutputConfig) { self.config = config }

    func attach(_ context: SinkContext) { self.context = context }

    private func log(_ s: String) { context?.log("output program: " + s) }

    func deliver(_ alert: StoredAlert, cancel: Canceller) -> DeliveryOutcome {
        let line = Array((AlertText.render(alert, as: config.format) + "\n").utf8)
        return config.keepAlive ? deliverLongLived(line, cancel: cancel) : deliverOnce(line, cancel: cancel)
    }

    // MARK: long-lived

    private func deliverLongLived(_ line: [UInt8], cancel: Canceller) -> DeliveryOutcome {
        if let p = process, let status = p.poll() {
            noteExit(p, status)
        }
        if process == nil {
            if let wait = restartPause(), !cancel.sleep(wait) { return .cancelled }
            do { try start() } catch {
                return .failed(DeliveryFailure(message: "cannot start /bin/sh: \(error)"))
            }
        }
        let p = process!
        switch writeAll(p.stdinFD, line, until: .never, cancel: cancel) {
        case .done:
            return .delivered
        case .cancelled:
            return .cancelled
        case .timedOut:
            return .failed(DeliveryFailure(message: "write to the program timed out"))
        case .failed(let e, _):
            // EPIPE: it exited (or closed its stdin). Reap it so the next attempt starts a new one.
            let status = p.wait(until: .after(.seconds(1)), cancel: cancel) ?? p.terminate(grace: .milliseconds(500))
            noteExit(p, status)
            let why = e == EPIPE ? "the program \(status)" : "write to the program: \(errnoText(e)) (it \(status))"
            return .failed(DeliveryFailure(message: why))
        }
    }

    /// How long to wait before starting the process again; nil for no wait.
    private func restartPause() -> Duration? {
        guard quickExits > 0, let lastStart else { return nil }
        let pause = config.delivery.delay(beforeRetry: quickExits)
        let elapsed = lastStart.duration(to: .now)
        return elapsed < pause ? pause - elapsed : nil
    }

    private func start() throws(SysError) {
        let p = try ShellProcess.spawn(config.command)
        process = p
        lastStart = .now
        spawned += 1
        if spawned > 1 { context?.onRestart() }
    }

    private func noteExit(_ p: ShellProcess, _ status: ExitStatus) {
        let unread = p.unreadBytes
        let uptime = p.uptime
        quickExits = uptime < Self.stableUptime ? quickExits + 1 : 0
        var s = "'\(config.command)' (pid \(p.pid)) \(status) after \(DurationText.format(.milliseconds(uptime.milliseconds)))"
        if unread > 0 { s += "; \(unread) bytes of alerts it had not read are lost with it" }
        if let pause = restartPause() { s += "; restarting in \(DurationText.format(.milliseconds(pause.milliseconds)))" }
        log(s)
        process = nil
    }

    // MARK: per alert

    private func deliverOnce(_ line: [UInt8], cancel: Canceller) -> DeliveryOutcome {
        let p: ShellProcess
        do { p = try ShellProcess.spawn(config.command) } catch {
            return .failed(DeliveryFailure(message: "cannot start /bin/sh: \(error)"))
        }
        let deadline = Deadline.after(config.timeout)
        let written = writeAll(p.stdinFD, line, until: deadline, cancel: cancel)
        p.closeStdin()
        if case .cancelled = written {
            p.terminate(grace: .zero)
            return .cancelled
        }
        guard let status = p.wait(until: deadline, cancel: cancel) else {
            if cancel.isCancelled {
                p.terminate(grace: .zero)
                return .cancelled
            }
            p.killGroup(SIGKILL)
            p.terminate(grace: .zero)
            return .failed(DeliveryFailure(message: "the program did not finish within \(DurationText.format(config.timeout)); killed"))
        }
        if status.succeeded { return .delivered }
        return .failed(DeliveryFailure(message: "the program \(status)"))
    }

    // MARK: stop

    func close(deadline: Deadline, cancel: Canceller) {
        guard let p = process else { return }
        process = nil
        p.closeStdin()   // end of input: a well-behaved program finishes its last alert and exits
        if !cancel.isCancelled, let status = p.wait(until: deadline, cancel: cancel) {
            if !status.succeeded { log("'\(config.command)' (pid \(p.pid)) \(status) at shutdown") }
            return
        }
        let status = p.terminate(grace: .milliseconds(500))
        log("'\(config.command)' (pid \(p.pid)) did not exit after end of input by the shutdown deadline; stopped (\(status))")
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
